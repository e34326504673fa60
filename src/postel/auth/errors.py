"""Errors of the auth package (SPF, DKIM, DMARC): one hierarchy, base AuthError."""

from __future__ import annotations

from postel.errors import PostelError


class AuthError(PostelError):
    """Base of all errors raised by postel.auth."""


class SPFSyntaxError(AuthError):
    """An SPF record or macro string that violates RFC 7208 §12 (a permerror).

    ``offset`` is the 0-based character offset in ``text`` where parsing failed.
    """

    def __init__(self, message: str, *, text: str = "", offset: int | None = None) -> None:
        self.message = message
        self.text = text
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        shown = f" in {text!r}" if text else ""
        super().__init__(f"spf{shown}{where}: {message}")


class DMARCSyntaxError(AuthError):
    """A `_dmarc` TXT record that violates RFC 7489 §6.4.

    ``tag`` is the tag being parsed when known.
    """

    def __init__(self, message: str, *, tag: str | None = None) -> None:
        self.message = message
        self.tag = tag
        where = f", tag {tag}" if tag else ""
        super().__init__(f"dmarc record{where}: {message}")


class FromHeaderError(AuthError):
    """The message's From header cannot give one author domain (RFC 7489 §6.6.1)."""


class DKIMKeyError(AuthError):
    """A configured DKIM signing key cannot be used (file, type, selector)."""


class DKIMSignError(AuthError):
    """A message cannot be DKIM-signed (e.g. no From header, RFC 6376 §5.4)."""
