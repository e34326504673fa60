"""Pure evaluation: facts gathered elsewhere -> the five findings (docs/webmail-security-api.md).

Nothing here does I/O; :mod:`postel.recipientsecurity.lookup` gathers the facts.
Each finding carries a sentence for the tooltip of the compose bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from postel.recipientsecurity.model import Finding, Value
from postel.store.message import DomainSecurity


def memory_findings(
    domain: str, memory: DomainSecurity | None, error: str = ""
) -> tuple[Finding, Finding]:
    """STARTTLS and REQUIRETLS from the sender account's memory of earlier deliveries
    (remembered after each successful session, docs/delivery-policy.md)."""
    if error:
        msg = f"Could not read what earlier deliveries to {domain} saw: {error}"
        return Finding(Value.ERROR, msg), Finding(Value.ERROR, msg)
    never = (
        f"Nothing has been delivered to {domain} from this account yet, so it is not "
        "known whether it supports {what}."
    )
    starttls: bool | None = memory.starttls if memory else None
    requiretls: bool | None = memory.requiretls if memory else None
    if starttls is None:
        st = Finding(Value.UNKNOWN, never.format(what="STARTTLS"))
    elif starttls:
        st = Finding(
            Value.YES,
            f"The last delivery to {domain} used STARTTLS: the connection was encrypted.",
        )
    else:
        st = Finding(
            Value.NO,
            f"The last delivery to {domain} found no STARTTLS: mail to it may travel unencrypted.",
        )
    if requiretls is None:
        rt = Finding(Value.UNKNOWN, never.format(what="REQUIRETLS (RFC 8689)"))
    elif requiretls:
        rt = Finding(
            Value.YES,
            f"The mail server of {domain} announced REQUIRETLS: a message can demand "
            "verified TLS on every hop (RFC 8689).",
        )
    else:
        rt = Finding(
            Value.NO,
            f"The mail server of {domain} did not announce REQUIRETLS: a message that "
            "requires TLS would be refused.",
        )
    return st, rt


@dataclass(frozen=True)
class MTASTSFacts:
    """What an MTA-STS lookup found: the policy mode (None: no usable policy), a
    problem that made the policy unusable, or a temporary failure."""

    mode: str | None = None
    problem: str = ""
    temporary: bool = False


def mtasts_finding(domain: str, facts: MTASTSFacts) -> Finding:
    """yes when the policy mode is enforce (RFC 8461 §5)."""
    if facts.temporary:
        return Finding(
            Value.ERROR, f"The MTA-STS record of {domain} could not be looked up: {facts.problem}"
        )
    if facts.mode == "enforce":
        return Finding(
            Value.YES,
            f"{domain} enforces an MTA-STS policy: mail goes only to its listed MX hosts, "
            "over TLS with a verified certificate.",
        )
    if facts.mode == "testing":
        return Finding(
            Value.NO,
            f"{domain} has an MTA-STS policy in testing mode: failures are reported, "
            "not prevented.",
        )
    if facts.problem:
        return Finding(
            Value.NO,
            f"{domain} announces MTA-STS but the policy is not usable ({facts.problem}): "
            "delivery proceeds as without MTA-STS.",
        )
    if facts.mode == "none":
        return Finding(Value.NO, f"{domain} has an MTA-STS policy in mode none (switched off).")
    return Finding(Value.NO, f"{domain} has no MTA-STS policy.")


@dataclass(frozen=True)
class MXFacts:
    """The next-hop lookup: authenticity of the MX answers, the first host, or an error."""

    authentic: bool = False  # original and expanded next hop answers (RFC 7672 §2.2.1)
    orig_authentic: bool = False
    first_host: str = ""
    have_mx: bool = True
    error: str = ""
    bogus: bool = False
    null_mx: bool = False


def dnssec_finding(domain: str, mx: MXFacts) -> Finding:
    """yes when the MX answers were DNSSEC-authentic."""
    if mx.null_mx:
        return Finding(Value.ERROR, f"{domain} does not accept mail (null MX, RFC 7505).")
    if mx.error:
        if mx.bogus:
            return Finding(
                Value.ERROR,
                f"DNSSEC validation of the MX records of {domain} failed (bogus): {mx.error}",
            )
        return Finding(Value.ERROR, f"The MX lookup of {domain} failed: {mx.error}")
    what = "MX records" if mx.have_mx else "address records (it has no MX)"
    if mx.authentic:
        return Finding(
            Value.YES,
            f"The {what} of {domain} are DNSSEC-signed: they cannot be forged on the way.",
        )
    return Finding(Value.NO, f"The {what} of {domain} are not DNSSEC-signed: they could be forged.")


@dataclass(frozen=True)
class DANEFacts:
    """TLSA status of the first MX host (RFC 7672 §2.2)."""

    host: str = ""
    applies: bool = False  # the chain to the host was DNSSEC-authentic
    records: int = 0
    error: str = ""


def dane_finding(domain: str, mx: MXFacts, dane: DANEFacts | None) -> Finding:
    """yes when the first MX host has TLSA records (DANE is required for it)."""
    if mx.null_mx:
        return Finding(Value.ERROR, f"{domain} does not accept mail (null MX, RFC 7505).")
    if mx.error:
        return Finding(Value.ERROR, f"DANE could not be checked: the MX lookup of {domain} failed.")
    if not mx.orig_authentic:
        return Finding(
            Value.NO,
            f"The MX records of {domain} are not DNSSEC-signed, so DANE cannot apply.",
        )
    if dane is None:
        return UNKNOWN_DANE
    if dane.error:
        return Finding(
            Value.ERROR, f"The TLSA or address lookup of {dane.host} failed: {dane.error}"
        )
    if not dane.applies:
        return Finding(
            Value.NO,
            f"The address records of {dane.host} are not DNSSEC-signed, so DANE cannot apply.",
        )
    if dane.records:
        return Finding(
            Value.YES,
            f"{dane.host} publishes DANE TLSA records: its certificate is verified "
            "through DNSSEC and TLS is required.",
        )
    return Finding(Value.NO, f"{dane.host} publishes no DANE TLSA records.")


UNKNOWN_DANE = Finding(Value.UNKNOWN, "")
