"""SEARCH keys (RFC 9051 §6.4.4), parsed into a tree: pure.

Supported: ALL, sequence sets, UID, ANSWERED/DELETED/DRAFT/FLAGGED/SEEN and
their UN- forms, KEYWORD/UNKEYWORD, NEW/OLD/RECENT (rev1), FROM/TO/CC/BCC/
SUBJECT/HEADER, TEXT, BODY, BEFORE/ON/SINCE, SENTBEFORE/SENTON/SENTSINCE,
LARGER/SMALLER, NOT, OR and parenthesised lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from postel.imapserver.lexer import Cursor
from postel.imapserver.seqset import SeqSet, parse_seqset

MAX_DEPTH = 50  # nesting of NOT/OR/() a search may have


@dataclass(frozen=True)
class All:
    pass


@dataclass(frozen=True)
class Seq:
    seqset: SeqSet
    uid: bool


@dataclass(frozen=True)
class Flag:
    flag: str
    present: bool


@dataclass(frozen=True)
class Header:
    field: str  # upper case; "" with *text*: TEXT, "BODY": BODY
    value: str


@dataclass(frozen=True)
class Text:
    value: str
    body_only: bool  # BODY: the body; TEXT: header and body


@dataclass(frozen=True)
class Date:
    op: str  # BEFORE, ON, SINCE
    day: date
    sent: bool  # the Date: header instead of the internal date


@dataclass(frozen=True)
class Size:
    larger: bool
    size: int


@dataclass(frozen=True)
class ModSeq:
    """MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5): modseq >= n; the
    entry name (a flag's metadata) is accepted and treated as the message's."""

    modseq: int


@dataclass(frozen=True)
class Not:
    key: Key


@dataclass(frozen=True)
class Or:
    a: Key
    b: Key


@dataclass(frozen=True)
class And:
    keys: tuple[Key, ...]


Key = All | Seq | Flag | Header | Text | Date | Size | ModSeq | Not | Or | And

_FLAGS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
    "NEW": ("\\Seen", False),  # \Recent is never set: NEW is UNSEEN
}
_HEADERS = ("FROM", "TO", "CC", "BCC", "SUBJECT")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _astring(cur: Cursor, charset: str) -> str:
    raw = cur.astring()
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        raise cur.error(f"search string is not {charset}") from None


def parse_date(cur: Cursor) -> date:
    """date = date-text / DQUOTE date-text DQUOTE, date-text = d-Mon-yyyy."""
    quoted = cur.accept(b'"')
    text = cur.take(frozenset(b"0123456789-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if quoted:
        cur.expect(b'"')
    try:
        day, mon, year = text.decode().split("-")
        return date(int(year), _MONTHS.index(mon.lower()) + 1, int(day))
    except (ValueError, UnicodeDecodeError):
        raise cur.error(f"invalid date {text.decode('ascii', 'replace')!r}") from None


def _modseq(cur: Cursor) -> int:
    digits = cur.take(frozenset(b"0123456789"))
    if not digits or len(digits) > 19 or int(digits) > 2**63 - 1:
        raise cur.error("expected a mod-sequence value")
    return int(digits)


def uses_modseq(key: Key) -> bool:
    """Whether *key* has a MODSEQ criterion (then SEARCH reports the highest)."""
    if isinstance(key, ModSeq):
        return True
    if isinstance(key, Not):
        return uses_modseq(key.key)
    if isinstance(key, Or):
        return uses_modseq(key.a) or uses_modseq(key.b)
    if isinstance(key, And):
        return any(uses_modseq(k) for k in key.keys)
    return False


def _key(cur: Cursor, charset: str, depth: int) -> Key:
    if depth > MAX_DEPTH:
        raise cur.error("search keys nested too deeply")
    if cur.accept(b"("):
        keys = [_key(cur, charset, depth + 1)]
        while not cur.accept(b")"):
            cur.sp()
            keys.append(_key(cur, charset, depth + 1))
        return keys[0] if len(keys) == 1 else And(tuple(keys))
    c = cur.peek()
    if c is not None and (chr(c).isdigit() or c in b"*$"):
        return Seq(parse_seqset(cur), uid=False)
    word = cur.atom("search key").upper()
    if word == "ALL":
        return All()
    if word in ("OLD", "RECENT"):
        return Flag("\\Recent", word == "RECENT")
    if word in _FLAGS:
        flag, present = _FLAGS[word]
        return Flag(flag, present)
    if word in ("KEYWORD", "UNKEYWORD"):
        cur.sp()
        return Flag(cur.flag(), word == "KEYWORD")
    if word in _HEADERS:
        cur.sp()
        return Header(word, _astring(cur, charset))
    if word == "HEADER":
        cur.sp()
        field = cur.astring("header field name").decode("ascii", "replace").upper()
        cur.sp()
        return Header(field, _astring(cur, charset))
    if word in ("TEXT", "BODY"):
        cur.sp()
        return Text(_astring(cur, charset), body_only=word == "BODY")
    for prefix in ("SENT", ""):
        if word.startswith(prefix) and word[len(prefix) :] in ("BEFORE", "ON", "SINCE"):
            cur.sp()
            return Date(word[len(prefix) :], parse_date(cur), sent=bool(prefix))
    if word in ("LARGER", "SMALLER"):
        cur.sp()
        return Size(word == "LARGER", cur.number("size"))
    if word == "UID":
        cur.sp()
        return Seq(parse_seqset(cur), uid=True)
    if word == "MODSEQ":
        cur.sp()
        if cur.peek() == ord('"'):  # entry-name entry-type-req
            cur.quoted()
            cur.sp()
            kind = cur.atom("entry type").lower()
            if kind not in ("priv", "shared", "all"):
                raise cur.error(f"unknown entry type {kind!r}")
            cur.sp()
        return ModSeq(_modseq(cur))
    if word == "NOT":
        cur.sp()
        return Not(_key(cur, charset, depth + 1))
    if word == "OR":
        cur.sp()
        a = _key(cur, charset, depth + 1)
        cur.sp()
        return Or(a, _key(cur, charset, depth + 1))
    raise cur.error(f"unsupported search key {word!r}")


@dataclass(frozen=True)
class SearchArgs:
    key: Key
    returns: tuple[str, ...] | None  # ESEARCH RETURN (...) options; None: plain SEARCH
    charset: str = ""  # as given after CHARSET ("": none)


def parse_search(cur: Cursor) -> SearchArgs:
    """[RETURN (opts)] [CHARSET x] key *(SP key) (RFC 9051 §6.4.4)."""
    returns: tuple[str, ...] | None = None
    charset = "utf-8"
    given = ""
    if cur.accept(b"RETURN "):
        cur.expect(b"(")
        opts: list[str] = []
        while not cur.accept(b")"):
            if opts:
                cur.sp()
            opts.append(cur.atom("return option").upper())
        unknown = set(opts) - {"MIN", "MAX", "ALL", "COUNT", "SAVE"}  # SAVE: RFC 5182
        if unknown:
            raise cur.error(f"unsupported RETURN option {sorted(unknown)[0]}")
        returns = tuple(opts) or ("ALL",)
        cur.sp()
    if cur.accept(b"CHARSET "):
        name = cur.astring("charset").decode("ascii", "replace")
        if name.upper() not in ("UTF-8", "US-ASCII"):
            raise cur.error(f"[BADCHARSET (UTF-8 US-ASCII)] charset {name} not supported")
        given = name
        cur.sp()
    keys = [_key(cur, charset, 0)]
    while not cur.at_end():
        cur.sp()
        keys.append(_key(cur, charset, 0))
    return SearchArgs(keys[0] if len(keys) == 1 else And(tuple(keys)), returns, given)


def on_day(when: datetime | None, op: str, day: date) -> bool:
    """BEFORE/ON/SINCE compare dates only, in the time zone given (RFC 9051 §6.4.4)."""
    if when is None:
        return False
    d = when.date()
    return d < day if op == "BEFORE" else d == day if op == "ON" else d >= day
