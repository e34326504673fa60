"""Which IMAP and submission services mail apps should use, from postel.toml.

Only listeners reachable from outside count (``internal = false``): a client
told about an internal port could not reach it under the public host name.
An installation with no public listener at all (localserve, a lab) has no
outside, and then its internal listeners count instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from postel.config.model import Listener, StaticConfig

Security = Literal["tls", "starttls"]

# Preferred first: implicit TLS (RFC 8314 §3.3: "MUAs SHOULD prefer implicit TLS"),
# then STARTTLS on the classic ports.
_IMAP_KINDS: tuple[tuple[str, Security, int], ...] = (
    ("imaps", "tls", 993),
    ("imap", "starttls", 143),
)
_SUBMIT_KINDS: tuple[tuple[str, Security, int], ...] = (
    ("submissions", "tls", 465),
    ("submission", "starttls", 587),
)


@dataclass(frozen=True)
class Endpoint:
    """One service a client connects to: port and how TLS starts."""

    port: int
    security: Security


@dataclass(frozen=True)
class ClientServices:
    """The host name and the IMAP and submission endpoints, preferred first."""

    hostname: str
    imap: tuple[Endpoint, ...]
    submission: tuple[Endpoint, ...]

    @property
    def usable(self) -> bool:
        """Whether a mail app can both read (IMAP) and send (submission)."""
        return bool(self.imap and self.submission)


def _endpoints(
    listeners: list[Listener], kinds: tuple[tuple[str, Security, int], ...]
) -> tuple[Endpoint, ...]:
    out: list[Endpoint] = []
    for kind, security, standard in kinds:
        ports = sorted({getattr(lst, kind).port for lst in listeners if getattr(lst, kind).enabled})
        # A port of 0 (any free port, tests) cannot be told to a client.
        ports = [p for p in ports if p > 0]
        if standard in ports:  # the standard port first when several listeners differ
            ports.remove(standard)
            ports.insert(0, standard)
        out.extend(Endpoint(p, security) for p in ports)
    return tuple(out)


def client_services(static: StaticConfig) -> ClientServices:
    """The services of the public listeners (of all, when none is public)."""
    listeners = [lst for lst in static.listeners.values() if not lst.internal]
    if not listeners:
        listeners = list(static.listeners.values())
    return ClientServices(
        hostname=static.hostname,
        imap=_endpoints(listeners, _IMAP_KINDS),
        submission=_endpoints(listeners, _SUBMIT_KINDS),
    )


def autodiscover_port(static: StaticConfig) -> int | None:
    """The HTTPS port where Outlook can reach Autodiscover on the mail host: a
    public listener's TLS web service with autoconfig on (443 preferred)."""
    ports = sorted(
        lst.web.port
        for lst in static.listeners.values()
        if not lst.internal and lst.web.enabled and lst.web.tls and lst.web.autoconfig
    )
    if not ports:
        return None
    return 443 if 443 in ports else ports[0]
