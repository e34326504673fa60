"""Exceptions of postel.dane (one hierarchy)."""

from __future__ import annotations

from postel.errors import InputError, PostelError


class DANEError(PostelError):
    """Base class of all postel.dane errors."""


class TLSAParseError(DANEError, InputError):
    """A TLSA record in presentation form could not be parsed.

    ``field`` names the part that is wrong ("usage", "selector", "mtype", "data"),
    ``offset`` is the character offset into the text where it starts.
    """

    def __init__(self, message: str, *, text: str, field: str, offset: int) -> None:
        super().__init__(f"TLSA record {text!r}: {field} at offset {offset}: {message}")
        self.text = text
        self.field = field
        self.offset = offset


class InvalidNameError(DANEError, InputError):
    """A host name given as TLSA base domain or reference identifier is not a valid DNS name."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(f"host name {name!r}: {message}")
        self.name = name
