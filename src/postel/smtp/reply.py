"""SMTP replies with enhanced status codes (RFC 5321 §4.2, RFC 2034, RFC 3463)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from postel.smtp.errors import ReplyError

# RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5; 1-3 digits each.
_ENHANCED = re.compile(r"^([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$")


def check_enhanced(code: int, enhanced: str) -> None:
    """Raise ReplyError unless *enhanced* is valid and its class matches *code*."""
    m = _ENHANCED.match(enhanced)
    if not m:
        raise ReplyError(f"invalid enhanced status code {enhanced!r} (RFC 3463 §2)")
    if code // 100 != int(m.group(1)):
        raise ReplyError(f"enhanced status {enhanced} does not match reply code {code}")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply; ``text`` may hold several lines separated by newlines."""

    code: int
    enhanced: str | None
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ReplyError(f"reply code {self.code} out of range (RFC 5321 §4.2)")
        if self.enhanced is not None:
            check_enhanced(self.code, self.enhanced)

    @property
    def positive(self) -> bool:
        return self.code < 400

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def lines(self, enhanced: bool = True) -> list[str]:
        """The reply lines as sent: ``code-text`` for all but the last (§4.2.1)."""
        texts = self.text.split("\n") or [""]
        prefix = f"{self.enhanced} " if enhanced and self.enhanced else ""
        out = []
        for i, t in enumerate(texts):
            sep = " " if i == len(texts) - 1 else "-"
            out.append(f"{self.code}{sep}{prefix}{t}")
        return out

    def encode(self, enhanced: bool = True) -> bytes:
        return "".join(line + "\r\n" for line in self.lines(enhanced)).encode("utf-8")

    def __str__(self) -> str:
        return " | ".join(self.lines())


def parse_reply_lines(lines: list[str]) -> Reply:
    """Parse the lines of one reply (as received by a client) into a Reply."""
    if not lines:
        raise ReplyError("empty reply")
    code: int | None = None
    texts: list[str] = []
    enhanced: str | None = None
    for i, line in enumerate(lines):
        if len(line) < 3 or not line[:3].isdigit():
            raise ReplyError(f"reply line {i}: no 3-digit code: {line!r}")
        c = int(line[:3])
        if code is not None and c != code:
            raise ReplyError(f"reply line {i}: code {c} differs from {code}")
        code = c
        last = i == len(lines) - 1
        if len(line) > 3 and line[3] != (" " if last else "-"):
            raise ReplyError(f"reply line {i}: bad separator in {line!r}")
        text = line[4:]
        first, _, rest = text.partition(" ")
        if _ENHANCED.match(first) and int(first[0]) == c // 100:
            if enhanced is None:
                enhanced = first
            text = rest
        texts.append(text)
    assert code is not None
    if not 200 <= code <= 599:
        raise ReplyError(f"reply code {code} out of range")
    return Reply(code, enhanced, "\n".join(texts))
