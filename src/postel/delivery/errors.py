"""Errors of outgoing delivery decisions (one hierarchy)."""

from __future__ import annotations


class DeliveryError(Exception):
    """Delivery to a domain or host cannot proceed.

    ``permanent`` follows RFC 5321 §4.2.1 (5xx vs 4xx); ``code`` is the SMTP
    reply code to report in a DSN, ``enhanced`` the RFC 3463 status code.
    """

    def __init__(self, message: str, *, permanent: bool, code: int, enhanced: str) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.enhanced = enhanced


class NullMX(DeliveryError):
    """The domain publishes a null MX: it accepts no mail (RFC 7505 §3)."""

    def __init__(self, domain: str) -> None:
        super().__init__(
            f"{domain} does not accept mail (null MX, RFC 7505)",
            permanent=True, code=556, enhanced="5.1.10",
        )


class NextHopLookupError(DeliveryError):
    """DNS failure while finding the next hops or a host's addresses: try again later."""

    def __init__(self, message: str, *, cause: Exception | None = None) -> None:
        super().__init__(message, permanent=False, code=451, enhanced="4.4.3")
        self.cause = cause
