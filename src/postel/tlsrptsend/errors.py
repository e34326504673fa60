"""Errors of the outgoing TLS report sender (RFC 8460 §5)."""

from __future__ import annotations


class TLSRPTSendError(Exception):
    """Base of all errors raised by postel.tlsrptsend."""


class SubmitterError(TLSRPTSendError):
    """No configured domain with DKIM signing can act as report submitter."""


class DeliveryError(TLSRPTSendError):
    """A report could not be handed to a reporting address (queue or HTTPS POST).

    ``permanent`` says whether trying again later is pointless.
    """

    def __init__(self, message: str, *, uri: str, permanent: bool) -> None:
        self.uri = uri
        self.permanent = permanent
        super().__init__(f"{uri}: {message}")
