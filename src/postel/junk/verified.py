"""The verified sender identities of a message (postel.junk.reputation): from
the receiving checks at delivery, or, when training later, from the
Authentication-Results field postel itself added (RFC 8601; fields claiming our
authserv-id from outside are removed on receipt) and its Received field."""

from __future__ import annotations

import email.parser
import email.policy
import ipaddress
import re

from postel.auth.results import AuthResults
from postel.junk.reputation import Verified

_RESINFO = re.compile(r"^\s*(spf|dkim|dmarc)\s*=\s*(\w+)(.*)$", re.IGNORECASE | re.DOTALL)
_PROP = re.compile(r"(smtp\.mailfrom|header\.d|header\.from)\s*=\s*\"?([^\s;\"]+)", re.I)
_RECEIVED_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
HEAD_LIMIT = 256 * 1024


def from_results(results: AuthResults, ip: str | None) -> Verified:
    """At delivery: what the SPF, DKIM and DMARC checks verified."""
    dm = results.dmarc
    return Verified(
        dmarc_from=dm.from_domain if dm.result == "pass" and dm.from_domain else None,
        dkim=tuple(d.domain for d in results.dkim if d.result == "pass" and d.domain),
        spf=results.spf.domain if results.spf.result == "pass" and results.spf.domain else None,
        ip=ip,
    )


def _domain(value: str) -> str:
    return value.rsplit("@", 1)[-1].lower().rstrip(".")


def from_headers(message: bytes, authserv_id: str) -> Verified:
    """Later: from our own topmost Authentication-Results and Received fields."""
    end = message.find(b"\r\n\r\n")
    head = message[: end if end >= 0 else HEAD_LIMIT][:HEAD_LIMIT]
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    dmarc: str | None = None
    dkim: list[str] = []
    spf: str | None = None
    for field in parsed.get_all("Authentication-Results") or []:
        parts = str(field).replace("\r\n", " ").replace("\n", " ").split(";")
        if parts[0].strip().split()[0:1] != [authserv_id]:
            continue
        for part in parts[1:]:
            m = _RESINFO.match(part)
            if m is None or m.group(2).lower() != "pass":
                continue
            props = {k.lower(): v for k, v in _PROP.findall(m.group(3))}
            method = m.group(1).lower()
            if method == "dmarc" and "header.from" in props:
                dmarc = _domain(props["header.from"])
            elif method == "dkim" and "header.d" in props:
                dkim.append(_domain(props["header.d"]))
            elif method == "spf" and "smtp.mailfrom" in props:
                spf = _domain(props["smtp.mailfrom"])
        break  # only the topmost field of ours: the one added on receipt
    ip: str | None = None
    received = parsed.get_all("Received") or []
    if received:
        m = _RECEIVED_IP.search(str(received[0]))
        if m is not None:
            try:
                ip = str(ipaddress.ip_address(m.group(1)))
            except ValueError:
                ip = None
    return Verified(dmarc_from=dmarc, dkim=tuple(dkim), spf=spf, ip=ip)
