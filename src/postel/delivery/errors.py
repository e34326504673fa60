"""Errors of outgoing delivery decisions (one hierarchy).

Each carries the SMTP reply to report in a DSN (postel.errors.SMTPReplyError:
``code``, RFC 3463 ``enhanced``, ``text``); ``permanent`` follows the code
(RFC 5321 §4.2.1, 5xx vs 4xx).
"""

from __future__ import annotations

from postel.errors import SMTPReplyError


class DeliveryError(SMTPReplyError):
    """Delivery to a domain or host cannot proceed."""


class NullMX(DeliveryError):
    """The domain publishes a null MX: it accepts no mail (RFC 7505 §3)."""

    def __init__(self, domain: str) -> None:
        super().__init__(556, "5.1.10", f"{domain} does not accept mail (null MX, RFC 7505)")


class NextHopLookupError(DeliveryError):
    """DNS failure while finding the next hops or a host's addresses: try again later."""

    def __init__(self, message: str, *, cause: Exception | None = None) -> None:
        super().__init__(451, "4.4.3", message)
        self.cause = cause


class InternalAddress(DeliveryError):
    """A host (an MX, or an address literal) has only addresses in loopback,
    private or other internal networks that the configuration does not allow
    (postel.netpolicy). An error for that host: the next MX is tried. It is
    permanent, 5.4.4 "unable to route" (RFC 3463 §3.5): a retry would follow
    the same DNS data, and as other MTAs that refuse such hosts do, the sender
    learns at once. Another host's temporary failure still makes the message
    wait (the deliverer's outcome rules)."""

    def __init__(self, host: str, ip: str, why: str) -> None:
        if host == ip:
            text = f"{ip} is {why}, not delivered to"
        else:
            text = f"{host} resolves only to internal addresses ({ip} is {why}), not delivered to"
        super().__init__(550, "5.4.4", text)
        self.host = host
        self.ip = ip
