"""The names postel's certificate covers."""

from __future__ import annotations

from collections.abc import Iterable


def certificate_names(hostname: str, domains: Iterable[str]) -> list[str]:
    """The mail host first, then mta-sts.<domain> (RFC 8461 §3.3) and
    autoconfig.<domain> of every hosted domain, without duplicates."""
    out = [hostname.lower().rstrip(".")]
    for domain in sorted(d.lower().rstrip(".") for d in domains):
        for name in (f"mta-sts.{domain}", f"autoconfig.{domain}"):
            if name not in out:
                out.append(name)
    return out


def http01_ips(listener_ips: Iterable[Iterable[str]]) -> list[str]:
    """The addresses of the HTTP-01 responder: every listener's, once each."""
    out: list[str] = []
    for ips in listener_ips:
        out.extend(ip for ip in ips if ip not in out)
    return out
