"""Errors of the outgoing report senders (TLS reports, RFC 8460 §5; DMARC
aggregate reports, RFC 7489 §7.2, which postel.dmarcsend sends the same way)."""

from __future__ import annotations

from postel.errors import PostelError


class ReportDeliveryError(PostelError):
    """A report could not be handed to a reporting address (queue or HTTPS POST).

    ``permanent`` says whether trying again later is pointless.
    """

    def __init__(self, message: str, *, uri: str, permanent: bool) -> None:
        self.uri = uri
        self.permanent = permanent
        super().__init__(f"{uri}: {message}")
