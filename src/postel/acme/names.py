"""The names postel's certificate covers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postel.config.model import StaticConfig


def certificate_names(hostname: str, domains: Iterable[str]) -> list[str]:
    """The mail host first, then mta-sts.<domain> (RFC 8461 §3.3) and
    autoconfig.<domain> of every hosted domain, without duplicates."""
    out = [hostname.lower().rstrip(".")]
    for domain in sorted(d.lower().rstrip(".") for d in domains):
        for name in (f"mta-sts.{domain}", f"autoconfig.{domain}"):
            if name not in out:
                out.append(name)
    return out


def http01_ips(listener_ips: Iterable[Iterable[str]], web_answers: Iterable[str] = ()) -> list[str]:
    """The addresses of the HTTP-01 responder: every listener's, once each, but
    those where a plain-HTTP web listener on the http-01 port answers the
    challenges itself (*web_answers*, postel.web.acmechallenge)."""
    taken = set(web_answers)
    out: list[str] = []
    for ips in listener_ips:
        out.extend(ip for ip in ips if ip not in out and ip not in taken)
    return out


def http01_responder_ips(static: StaticConfig) -> list[str]:
    """Where postel's own HTTP-01 responder listens: every listener's address
    that no plain-HTTP web listener on acme.http01_port serves."""
    port = static.acme.http01_port
    web = [
        ip
        for lst in static.listeners.values()
        if lst.web.enabled and not lst.web.tls and lst.web.port == port
        for ip in lst.ips
    ]
    return http01_ips((lst.ips for lst in static.listeners.values()), web)
