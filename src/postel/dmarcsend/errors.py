"""Errors of the outgoing DMARC aggregate report sender (RFC 7489 §7.2)."""

from __future__ import annotations


class DMARCSendError(Exception):
    """Base of all errors raised by postel.dmarcsend."""


class DeliveryError(DMARCSendError):
    """A report could not be handed to the queue for a reporting address."""

    def __init__(self, message: str, *, uri: str) -> None:
        self.uri = uri
        super().__init__(f"{uri}: {message}")
