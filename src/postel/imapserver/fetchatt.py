"""FETCH data items (RFC 9051 §6.4.5), parsed: pure."""

from __future__ import annotations

from dataclasses import dataclass

from postel.imapserver.lexer import ASTRING_CHARS, Cursor

SIMPLE = frozenset(
    {
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "UID",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "BODY",
        "MODSEQ",  # RFC 7162 §3.1.4.1
    }
)
# RFC 9051 §6.4.5 macros.
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
TEXTS = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


@dataclass(frozen=True)
class Section:
    """BODY[...]: *part* numbers (empty: the whole message), then HEADER,
    HEADER.FIELDS (*fields*), HEADER.FIELDS.NOT, TEXT, MIME or nothing."""

    part: tuple[int, ...] = ()
    text: str = ""
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        out = ".".join(str(p) for p in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True)
class FetchAtt:
    """One data item; *name* is upper case ("BODY" with a section is BODY[...])."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None  # <origin.length>
    peek: bool = False

    @property
    def sets_seen(self) -> bool:
        """Fetching it sets \\Seen (RFC 9051 §6.4.5)."""
        if self.name in ("RFC822", "RFC822.TEXT"):
            return True
        if self.name == "BINARY.SIZE":  # RFC 3516 §4.2: a size, not content
            return False
        return self.section is not None and not self.peek

    def response_name(self) -> str:
        """The name in the FETCH response (BODY.PEEK answers as BODY, §7.5.2)."""
        if self.section is None:
            return self.name
        if self.name == "BINARY.SIZE":
            return f"BINARY.SIZE[{self.section}]"
        base = "BINARY" if self.name.startswith("BINARY") else "BODY"
        out = f"{base}[{self.section}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out


def _section(cur: Cursor) -> Section:
    cur.expect(b"[")
    part: list[int] = []
    text = ""
    fields: list[str] = []
    if cur.accept(b"]"):
        return Section()
    while cur.peek() is not None and chr(cur.peek() or 0).isdigit():
        part.append(cur.nz_number("part number"))
        if not cur.accept(b"."):
            break
    if not (part and cur.peek() == ord("]")):
        for name in TEXTS:
            if cur.accept(name.encode()):
                text = name
                break
        else:
            raise cur.error("expected a section: part number, HEADER, TEXT or MIME")
        if text == "MIME" and not part:
            raise cur.error("MIME needs a part number")
        if text.startswith("HEADER.FIELDS"):
            cur.sp()
            cur.expect(b"(", "header field list")
            while True:
                fields.append(cur.astring("header field name").decode("ascii", "replace").upper())
                if cur.accept(b")"):
                    break
                cur.sp()
    cur.expect(b"]")
    return Section(tuple(part), text, tuple(fields))


def _partial(cur: Cursor) -> tuple[int, int] | None:
    if not cur.accept(b"<"):
        return None
    origin = cur.number("partial origin")
    cur.expect(b".")
    length = cur.nz_number("partial length")
    cur.expect(b">")
    return origin, length


def _one(cur: Cursor) -> list[FetchAtt]:
    word = cur.take(ASTRING_CHARS - {ord("["), ord("]"), ord("<")}).decode().upper()
    if word in MACROS:
        return [FetchAtt(n) for n in MACROS[word]]
    if word in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK") and cur.peek() == ord("["):
        section = _section(cur)
        if word.startswith("BINARY") and section.text:
            raise cur.error("BINARY takes part numbers only (RFC 3516)")
        name = word.split(".")[0]
        return [FetchAtt(name, section, _partial(cur), word.endswith(".PEEK"))]
    if word == "BINARY.SIZE" and cur.peek() == ord("["):
        return [FetchAtt(word, _section(cur))]
    if word in SIMPLE:
        return [FetchAtt(word)]
    raise cur.error(f"unknown FETCH item {word or chr(cur.peek() or 32)!r}")


def parse_fetch_atts(cur: Cursor) -> list[FetchAtt]:
    if cur.accept(b"("):
        out: list[FetchAtt] = []
        while True:
            out.extend(_one(cur))
            if cur.accept(b")"):
                return out
            cur.sp()
    return _one(cur)
