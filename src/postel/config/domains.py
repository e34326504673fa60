"""domains.toml: domains, accounts, aliases, DKIM, report addresses, MTA-STS."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from postel.config.model import JunkThresholds, Strict
from postel.config.names import check_address, check_domain, check_localpart

_SELECTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_POLICY_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


# Header fields a DKIM signature covers by default (RFC 6376 §5.4.1), and those
# of outgoing TLS reports (RFC 8460 §3).
SIGNED_HEADERS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
SIGNED_REPORT_HEADERS = ("TLS-Report-Domain", "TLS-Report-Submitter")


class DKIMSelector(Strict):
    algorithm: Literal["ed25519", "rsa"] = Field(..., description="Key algorithm.")
    key_file: str = Field(..., description="PEM private key, relative to the config dir.")
    headers: list[str] = Field(
        default_factory=lambda: [*SIGNED_HEADERS, *SIGNED_REPORT_HEADERS],
        description="Headers to sign.",
    )


class DKIMConfig(Strict):
    selectors: dict[str, DKIMSelector] = Field(
        default_factory=dict, description="Selectors with their keys."
    )
    sign: list[str] = Field(default_factory=list, description="Selectors used for signing.")

    @field_validator("selectors")
    @classmethod
    def _names(cls, value: dict[str, DKIMSelector]) -> dict[str, DKIMSelector]:
        for name in value:
            if not _SELECTOR.match(name):
                raise ValueError(f"invalid DKIM selector name {name!r}")
        return value

    @model_validator(mode="after")
    def _sign_known(self) -> DKIMConfig:
        for name in self.sign:
            if name not in self.selectors:
                raise ValueError(f"sign names unknown selector {name!r}")
        return self


class ReportAddress(Strict):
    localpart: str = Field(..., description="Localpart receiving the reports.")
    account: str = Field(..., description="Account that stores them.")
    mailbox: str = Field(..., description="Mailbox the report messages go to.")

    @field_validator("localpart")
    @classmethod
    def _lp(cls, value: str) -> str:
        return check_localpart(value)


class MTASTSPolicy(Strict):
    policy_id: str = Field(..., description="Value of id= in the _mta-sts TXT record.")
    mode: Literal["enforce", "testing", "none"] = Field("enforce", description="Policy mode.")
    max_age: int = Field(86400, ge=1, le=31557600, description="Seconds (RFC 8461 §3.2).")
    mx: list[str] = Field(
        default_factory=list, description="MX patterns; empty: the server's hostname."
    )

    @field_validator("policy_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _POLICY_ID.match(value):
            raise ValueError("policy_id must be 1-32 letters/digits (RFC 8461 §3.1)")
        return value


class Domain(Strict):
    description: str = Field("", description="Free text.")
    dkim: DKIMConfig = Field(default_factory=DKIMConfig, description="DKIM signing.")
    dmarc_reports: ReportAddress | None = Field(None, description="DMARC report intake.")
    tlsrpt_reports: ReportAddress | None = Field(None, description="TLS report intake.")
    mta_sts: MTASTSPolicy | None = Field(None, description="MTA-STS policy to serve.")
    aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="localpart = [destination addresses]."
    )

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for lp, dests in value.items():
            check_localpart(lp)
            if not dests:
                raise ValueError(f"alias {lp!r} has no destinations")
            for d in dests:
                check_address(d)
        return value


class Account(Strict):
    domain: str = Field(..., description="Default domain of the account.")
    addresses: list[str] = Field(..., min_length=1, description="Addresses delivered here.")
    full_name: str = Field("", description="Display name for outgoing mail.")
    quota: int = Field(
        0,
        ge=0,
        description="Disk quota in bytes (the sizes of all the account's messages); 0: none. "
        "Enforced on every delivery: SMTP answers 452 4.2.2 at RCPT when the account is "
        "full, 552 5.2.2 when a message does not fit; IMAP shows it with QUOTA (RFC 9208).",
    )
    junk: JunkThresholds | None = Field(
        None, description="This account's junk filter thresholds; default: [junk.thresholds]."
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_domain(value)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [check_address(a) for a in value]


class DomainsConfig(Strict):
    domains: dict[str, Domain] = Field(default_factory=dict, description="Hosted domains.")
    accounts: dict[str, Account] = Field(default_factory=dict, description="Accounts.")

    @field_validator("domains")
    @classmethod
    def _domain_names(cls, value: dict[str, Domain]) -> dict[str, Domain]:
        return {check_domain(k): v for k, v in value.items()}

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, value: dict[str, Account]) -> dict[str, Account]:
        for name in value:
            if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", name):
                raise ValueError(
                    f"invalid account name {name!r}: lower-case letters, digits, . _ -"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DomainsConfig:
        seen: dict[str, str] = {}
        for name, acc in self.accounts.items():
            if acc.domain not in self.domains:
                raise ValueError(f"account {name!r}: domain {acc.domain!r} is not configured")
            for addr in acc.addresses:
                dom = addr.rpartition("@")[2]
                if dom not in self.domains:
                    raise ValueError(f"account {name!r}: address {addr!r} has an unknown domain")
                if addr.lower() in seen:
                    raise ValueError(
                        f"address {addr!r} is in accounts {seen[addr.lower()]!r} and {name!r}"
                    )
                seen[addr.lower()] = name
        for dname, domain in self.domains.items():
            for label, ra in (
                ("dmarc_reports", domain.dmarc_reports),
                ("tlsrpt_reports", domain.tlsrpt_reports),
            ):
                if ra is not None and ra.account not in self.accounts:
                    raise ValueError(f"domain {dname!r} {label}: unknown account {ra.account!r}")
        return self

    def account_for_address(self, address: str) -> str | None:
        addr = address.lower()
        for name, acc in self.accounts.items():
            if addr in (a.lower() for a in acc.addresses):
                return name
        return None
