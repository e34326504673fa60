"""The one error base of postel, and the errors every package shares.

Each package keeps its own exceptions next to the code that raises them
(``<package>/errors.py``); all of them derive from PostelError, and from
InputError, LimitError or SMTPReplyError when that is what they are, so a
caller can catch by kind without knowing the package. Messages say what
went wrong and where, on one line.
"""

from __future__ import annotations


class PostelError(Exception):
    """Base of every exception postel raises on purpose."""


class InputError(PostelError):
    """Bad input from the network or a file (a peer's command, a DNS record,
    a report, a configuration file).

    ``where`` names the place: a file and line, a field, a JSON or XML path,
    a URL or a peer. When given, the message reads ``where: message``.
    """

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class LimitError(PostelError):
    """A size, count or time limit was hit.

    ``limit`` names the limit (e.g. "decompressed size") and ``value`` is its
    value, when the raiser knows them; the message says both anyway.
    """

    def __init__(self, message: str, *, limit: str = "", value: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class SMTPReplyError(PostelError):
    """An error that an SMTP reply states (RFC 5321 §4.2, RFC 3463): a
    command the server refuses, a reply a peer gave, a delivery decision.

    ``code`` is the reply code, or 0 when no reply was exchanged (a local
    decision, a lost connection); ``enhanced`` the RFC 3463 status code or
    None; ``text`` the human-readable part. ``permanent`` follows the reply
    class (5xx, RFC 5321 §4.2.1), or that of ``enhanced`` when ``code`` is 0.
    """

    def __init__(self, code: int, enhanced: str | None, text: str) -> None:
        self.code = code
        self.enhanced = enhanced or None
        self.text = text
        super().__init__(self.line())

    @property
    def permanent(self) -> bool:
        if self.code:
            return self.code >= 500
        return self.enhanced is not None and self.enhanced.startswith("5")

    @property
    def temporary(self) -> bool:
        return not self.permanent

    def line(self) -> str:
        """``code enhanced text`` as in a reply line, leaving out what is absent."""
        parts = [str(self.code)] if self.code else []
        if self.enhanced:
            parts.append(self.enhanced)
        parts.append(self.text)
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.enhanced!r}, {self.text!r})"
