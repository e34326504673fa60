"""The delivery decision per MX host (docs/delivery-policy.md), pure.

| situation                     | TLS                                  | on TLS error       |
| no MTA-STS, no DANE           | opportunistic, PKIX only reported    | plaintext retry    |
| MTA-STS testing               | as above, mx mismatch only reported  | plaintext retry    |
| MTA-STS enforce               | host must match; STARTTLS + PKIX     | host fails         |
| DANE usable records           | STARTTLS, DANE (+PKIX if enforce)    | host fails         |
| DANE, only unusable records   | STARTTLS, no verification            | host fails         |
| TLSA lookup error             | host fails temporarily               |                    |
| TLS-Required: No (RFC 8689)   | policy/verification errors ignored   | plaintext retry    |
| REQUIRETLS (RFC 8689)         | needs enforce or usable DANE         | 5.7.30             |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postel.dane import TLSARecord, usable_records
from postel.delivery.errors import DeliveryError
from postel.delivery.gather import HostTLSA
from postel.mtasts.policy import Mode, Policy
from postel.smtpclient.policy import TLSPolicy
from postel.smtpclient.tlsmode import TLSMode

REASON_MX_MISMATCH = "mtasts-policy-mx-mismatch"


@dataclass(frozen=True)
class HostDecision:
    """How (and whether) to deliver to one MX host.

    ``tls`` is None when the host is skipped; ``failure`` then says why.
    ``mx_mismatch`` is reported (RFC 8460 validation-failure, reason
    mtasts-policy-mx-mismatch); ``mismatch_enforced`` when it caused the skip.
    """

    host: str
    tls: TLSPolicy | None
    plaintext_fallback: bool = False
    requiretls: bool = False
    mx_mismatch: bool = False
    mismatch_enforced: bool = False
    dane_usable: bool = False
    failure: DeliveryError | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def skip(self) -> bool:
        return self.tls is None


def _skip(
    host: str,
    failure: DeliveryError,
    *,
    mx_mismatch: bool = False,
    mismatch_enforced: bool = False,
) -> HostDecision:
    return HostDecision(
        host, None, failure=failure, mx_mismatch=mx_mismatch, mismatch_enforced=mismatch_enforced
    )


def requiretls_failure(host: str, why: str) -> DeliveryError:
    """RFC 8689 §4.1: REQUIRETLS cannot be honoured: 5.7.30."""
    return DeliveryError(550, "5.7.30", f"REQUIRETLS: {why} for {host}")


def decide(
    host: str,
    *,
    policy: Policy | None,
    tlsa: HostTLSA | None,
    requiretls: bool = False,
    tls_required_no: bool = False,
    extra_ca_files: Sequence[Path] = (),
) -> HostDecision:
    """Decide the TLS policy for ``host`` (docs/delivery-policy.md)."""
    active = policy is not None and policy.mode in (Mode.TESTING, Mode.ENFORCE)
    enforce = active and policy is not None and policy.mode == Mode.ENFORCE
    mismatch = active and policy is not None and not policy.matches(host)
    # RFC 8689 §5: TLS-Required: No is ignored for a REQUIRETLS message.
    ignore = tls_required_no and not requiretls
    records: list[TLSARecord] = list(tlsa.records) if tlsa is not None and tlsa.applies else []
    usable = bool(usable_records(records))
    names = list(tlsa.allowed_names) if tlsa is not None and records else []
    cas = list(extra_ca_files)

    if ignore:
        tls = TLSPolicy(
            mode=TLSMode.OPPORTUNISTIC,
            verify_pkix=False,
            dane_records=records,
            verify_dane=False,
            ignore_verification_errors=True,
            allowed_names=names,
            pkix_name=host,
            extra_ca_files=cas,
        )
        return HostDecision(
            host,
            tls,
            plaintext_fallback=True,
            mx_mismatch=mismatch,
            dane_usable=usable,
            notes=["TLS-Required: No"],
        )
    if enforce and mismatch:
        return _skip(
            host,
            DeliveryError(
                451, "4.7.5", f"MX host {host} not allowed by the MTA-STS policy (RFC 8461 §4.1)"
            ),
            mx_mismatch=True,
            mismatch_enforced=True,
        )
    if tlsa is not None and tlsa.error is not None:
        # RFC 7672 §2.2: records may exist but cannot be had: DANE required, retry later.
        return _skip(
            host,
            DeliveryError(
                451, "4.7.5", f"DANE required for {host}: TLSA lookup failed: {tlsa.error}"
            ),
        )
    if requiretls and not (enforce or usable):
        return _skip(
            host,
            requiretls_failure(host, "no MTA-STS enforce policy or usable DANE"),
            mx_mismatch=mismatch,
        )
    if records:
        tls = TLSPolicy(
            mode=TLSMode.STARTTLS_REQUIRED,
            verify_pkix=enforce,
            dane_records=records,
            verify_dane=usable,
            allowed_names=names,
            pkix_name=host,
            extra_ca_files=cas,
        )
        return HostDecision(
            host, tls, requiretls=requiretls, mx_mismatch=mismatch, dane_usable=usable
        )
    if enforce:
        tls = TLSPolicy(
            mode=TLSMode.STARTTLS_REQUIRED, verify_pkix=True, pkix_name=host, extra_ca_files=cas
        )
        return HostDecision(host, tls, requiretls=requiretls)
    tls = TLSPolicy(
        mode=TLSMode.OPPORTUNISTIC, verify_pkix=False, pkix_name=host, extra_ca_files=cas
    )
    return HostDecision(host, tls, plaintext_fallback=True, mx_mismatch=mismatch)
