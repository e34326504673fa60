"""Reading the tokens of one IMAP command (RFC 9051 §9): pure, no I/O.

A command arrives as parts: text of a line, then a literal, then the rest of
the line, and so on (postel.imapserver.reader); the cursor walks over them."""

from __future__ import annotations

from collections.abc import Sequence

from postel.imapserver.errors import ParseError
from postel.imapserver.literal import Part, SpilledLiteral

# RFC 9051 §9: ATOM-CHAR is any CHAR except atom-specials.
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - _ATOM_SPECIALS
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
# A tag is astring chars without "+" (RFC 9051 §9 "tag").
TAG_CHARS = ASTRING_CHARS - {ord("+")}
# List wildcards (RFC 9051 §9 "list-char").
LIST_CHARS = ATOM_CHARS | {ord("%"), ord("*"), ord("]")}
MAX_NUMBER = 2**32 - 1  # nz-number and number are 32 bit (RFC 9051 §9)


class Cursor:
    """Position in the parts of one command; *tag* names it in errors."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)
        self.index = 0
        self.pos = 0
        self.tag = "*"

    def error(self, what: str) -> ParseError:
        return ParseError(what, self.tag)

    # -- position ----------------------------------------------------------

    def _text(self) -> bytes:
        part = self.parts[self.index] if self.index < len(self.parts) else b""
        return part if isinstance(part, bytes) else b""

    def peek(self) -> int | None:
        """The next byte of line text, None at a literal or the end."""
        text = self._text()
        return text[self.pos] if self.pos < len(text) else None

    def at_literal(self) -> bool:
        # Parts alternate text (even indices) and literals; the cursor is on text.
        return self.peek() is None and self.index + 1 < len(self.parts)

    def at_end(self) -> bool:
        return self.peek() is None and self.index + 1 >= len(self.parts)

    def end(self) -> None:
        if not self.at_end():
            raise self.error("unexpected characters at the end of the command")

    def take(self, chars: frozenset[int]) -> bytes:
        text = self._text()
        start = self.pos
        while self.pos < len(text) and text[self.pos] in chars:
            self.pos += 1
        return text[start : self.pos]

    def accept(self, literal: bytes) -> bool:
        """Consume *literal* (case-insensitive) if it comes next."""
        text = self._text()
        if text[self.pos : self.pos + len(literal)].upper() == literal.upper():
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: bytes, what: str = "") -> None:
        if not self.accept(literal):
            raise self.error(f"expected {what or literal.decode()!r}")

    def sp(self) -> None:
        self.expect(b" ", "space")

    # -- tokens ------------------------------------------------------------

    def atom(self, what: str = "atom") -> str:
        value = self.take(ATOM_CHARS)
        if not value:
            raise self.error(f"expected {what}")
        return value.decode("ascii")

    def number(self, what: str = "number") -> int:
        digits = self.take(frozenset(b"0123456789"))
        if not digits or len(digits) > 10 or int(digits) > MAX_NUMBER:
            raise self.error(f"expected {what} (0 to {MAX_NUMBER})")
        return int(digits)

    def nz_number(self, what: str = "number") -> int:
        value = self.number(what)
        if value == 0:
            raise self.error(f"{what} must not be 0")
        return value

    def literal(self) -> bytes | SpilledLiteral:
        """The literal that follows the current line text (parts alternate: text,
        literal, text ...; the reader ends every command with text)."""
        if not self.at_literal():
            raise self.error("expected a literal")
        value = self.parts[self.index + 1]
        self.index += 2
        self.pos = 0
        return value

    def quoted(self) -> bytes:
        self.expect(b'"', "quoted string")
        text = self._text()
        out = bytearray()
        while self.pos < len(text):
            c = text[self.pos]
            self.pos += 1
            if c == ord('"'):
                return bytes(out)
            if c == ord("\\"):
                if self.pos >= len(text) or text[self.pos] not in b'"\\':
                    raise self.error('only \\" and \\\\ may be escaped in a quoted string')
                c = text[self.pos]
                self.pos += 1
            elif c in (0, 0x0A, 0x0D):
                raise self.error("NUL, CR or LF in a quoted string")
            out.append(c)
        raise self.error("unterminated quoted string")

    def string(self) -> bytes:
        """A quoted string or a literal held in memory (RFC 9051 §9 "string")."""
        if self.peek() == ord('"'):
            return self.quoted()
        if self.at_literal():
            value = self.literal()
            if isinstance(value, SpilledLiteral):
                raise self.error("literal too large for this argument")
            return value
        raise self.error("expected a string")

    def astring(self, what: str = "string") -> bytes:
        if self.peek() == ord('"') or self.at_literal():
            return self.string()
        value = self.take(ASTRING_CHARS)
        if not value:
            raise self.error(f"expected {what}")
        return value

    def nstring_or_nil(self) -> bytes | None:
        if self.accept(b"NIL"):
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        """A LIST pattern: a string or atom with the wildcards % and * (RFC 9051 §9)."""
        if self.peek() == ord('"') or self.at_literal():
            return self.string()
        value = self.take(LIST_CHARS)
        if not value:
            raise self.error("expected a mailbox pattern")
        return value

    def flag(self) -> str:
        """A flag: \\Name or a keyword atom (RFC 9051 §9 "flag")."""
        if self.accept(b"\\"):
            if self.accept(b"*"):
                return "\\*"
            return "\\" + self.atom("flag name")
        return self.atom("flag")

    def flag_list(self) -> list[str]:
        self.expect(b"(", "flag list")
        flags: list[str] = []
        while not self.accept(b")"):
            if flags:
                self.sp()
            flags.append(self.flag())
        return flags
