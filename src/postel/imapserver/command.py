"""One IMAP command, parsed (RFC 9051 §6 and §9, RFC 3501 for rev1's LSUB): pure.

:func:`parse_command` turns the parts of a command (line text and literals)
into a :class:`Command` or raises ParseError with the tag when it was read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from postel.imapserver.appendcmd import AppendMessage, parse_messages
from postel.imapserver.errors import ParseError
from postel.imapserver.fetchatt import FetchAtt, parse_fetch_atts
from postel.imapserver.lexer import TAG_CHARS, Cursor
from postel.imapserver.literal import Part
from postel.imapserver.searchkeys import _MONTHS, SearchArgs, parse_search
from postel.imapserver.seqset import SeqSet, parse_seqset

NO_ARGS = frozenset(
    {
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "IDLE",
        "NAMESPACE",
    }
)
ONE_MAILBOX = frozenset(
    # GETQUOTA's argument is a quota root (RFC 9208 §4.2), an astring as well.
    {"SELECT", "EXAMINE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETQUOTAROOT", "GETQUOTA"}
)
UID_COMMANDS = frozenset({"FETCH", "SEARCH", "STORE", "COPY", "MOVE", "EXPUNGE"})
STATUS_ITEMS = frozenset(
    {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ"}
)
MAX_MODSEQ = 2**63 - 1  # RFC 7162 §7: mod-sequence-value


@dataclass(frozen=True)
class QResync:
    """SELECT (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])), RFC 7162 §3.2.5."""

    uidvalidity: int
    modseq: int
    known_uids: SeqSet | None = None
    match: tuple[SeqSet, SeqSet] | None = None  # known sequence numbers and their UIDs


@dataclass
class Command:
    """A parsed command; which fields are set depends on *name*."""

    tag: str
    name: str
    uid: bool = False
    mailbox: bytes = b""  # raw mailbox name (modified UTF-7 for rev1 clients)
    mailbox2: bytes = b""  # RENAME's new name, LIST's pattern
    strings: tuple[bytes, ...] = ()  # LOGIN user and password, AUTHENTICATE mechanism
    seqset: SeqSet | None = None
    fetch: tuple[FetchAtt, ...] = ()
    search: SearchArgs | None = None
    flags: tuple[str, ...] = ()
    store_mode: str = ""  # "+", "-" or "" (replace)
    silent: bool = False
    items: tuple[str, ...] = ()  # STATUS items, ENABLE capabilities, LIST options
    returns: tuple[str, ...] = ()  # LIST RETURN options
    patterns: tuple[bytes, ...] = ()  # LIST patterns
    messages: tuple[AppendMessage, ...] = ()  # APPEND (MULTIAPPEND: several)
    params: dict[str, str | None] = field(default_factory=dict)  # ID
    # RFC 7162: SELECT (CONDSTORE) / (QRESYNC ...), FETCH (CHANGEDSINCE n [VANISHED]),
    # STORE (UNCHANGEDSINCE n)
    condstore: bool = False
    qresync: QResync | None = None
    changedsince: int | None = None
    vanished: bool = False
    unchangedsince: int | None = None


def modseq_value(cur: Cursor, what: str = "mod-sequence") -> int:
    digits = cur.take(frozenset(b"0123456789"))
    if not digits or len(digits) > 19 or int(digits) > MAX_MODSEQ:
        raise cur.error(f"expected {what} (0 to {MAX_MODSEQ})")
    return int(digits)


def _select_params(cur: Cursor, cmd: Command) -> None:
    """SELECT/EXAMINE parameters after " (": CONDSTORE, QRESYNC (RFC 7162 §3.1.8, §3.2.5)."""
    first = True
    while not cur.accept(b")"):
        if not first:
            cur.sp()
        first = False
        word = cur.atom("select parameter").upper()
        if word == "CONDSTORE":
            cmd.condstore = True
        elif word == "QRESYNC":
            cur.expect(b" (")
            uidvalidity = cur.nz_number("uidvalidity")
            cur.sp()
            modseq = modseq_value(cur)
            known: SeqSet | None = None
            match: tuple[SeqSet, SeqSet] | None = None
            if cur.accept(b" "):
                if cur.peek() != ord("("):
                    known = parse_seqset(cur, saved=False)
                    cur.accept(b" ")
                if cur.accept(b"("):
                    seqs = parse_seqset(cur, saved=False)
                    cur.sp()
                    match = (seqs, parse_seqset(cur, saved=False))
                    cur.expect(b")")
            cur.expect(b")")
            cmd.qresync = QResync(uidvalidity, modseq, known, match)
        else:
            raise cur.error(f"unknown select parameter {word}")


def _fetch_modifiers(cur: Cursor, cmd: Command) -> None:
    """FETCH modifiers after " (": CHANGEDSINCE n, VANISHED (RFC 7162 §3.1.4, §3.2.6)."""
    first = True
    while not cur.accept(b")"):
        if not first:
            cur.sp()
        first = False
        word = cur.atom("fetch modifier").upper()
        if word == "CHANGEDSINCE":
            cur.sp()
            cmd.changedsince = modseq_value(cur)
        elif word == "VANISHED":
            cmd.vanished = True
        else:
            raise cur.error(f"unknown fetch modifier {word}")
    if cmd.vanished and (not cmd.uid or cmd.changedsince is None):
        raise cur.error("VANISHED needs UID FETCH with CHANGEDSINCE")


def _mailbox(cur: Cursor) -> bytes:
    return cur.astring("mailbox name")


def _paren_atoms(cur: Cursor, what: str) -> tuple[str, ...]:
    cur.expect(b"(", what)
    out: list[str] = []
    while not cur.accept(b")"):
        if out:
            cur.sp()
        out.append(cur.atom(what).upper())
    return tuple(out)


def _date_time(cur: Cursor) -> datetime:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
    text = cur.quoted().decode("ascii", "replace")
    try:
        day_s, rest = text.strip().split("-", 1)
        mon, rest = rest.split("-", 1)
        year, clock, zone = rest.split(" ")
        hh, mm, ss = (int(x) for x in clock.split(":"))
        sign = -1 if zone[0] == "-" else 1
        if zone[0] not in "+-" or len(zone) != 5:
            raise ValueError(zone)
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        return datetime(
            int(year), _MONTHS.index(mon.lower()) + 1, int(day_s), hh, mm, ss,
            tzinfo=timezone(offset),
        )  # fmt: skip
    except (ValueError, IndexError):
        raise cur.error(f"invalid date-time {text!r}") from None


def _list(cur: Cursor, cmd: Command) -> None:
    """LIST [(selection options)] reference patterns [RETURN (options)] (RFC 5258)."""
    if cur.peek() == ord("("):
        cmd.items = _paren_atoms(cur, "selection option")
        cur.sp()
    cmd.mailbox = _mailbox(cur)
    cur.sp()
    if cur.accept(b"("):
        patterns = [cur.list_mailbox()]
        while not cur.accept(b")"):
            cur.sp()
            patterns.append(cur.list_mailbox())
        cmd.patterns = tuple(patterns)
    else:
        cmd.patterns = (cur.list_mailbox(),)
    if cur.accept(b" RETURN "):
        cur.expect(b"(")
        opts: list[str] = []
        while not cur.accept(b")"):
            if opts:
                cur.sp()
            opt = cur.atom("return option").upper()
            if opt == "STATUS":
                cur.sp()
                opts.extend("STATUS " + item for item in _paren_atoms(cur, "status item"))
                continue
            opts.append(opt)
        cmd.returns = tuple(opts)


def _append(cur: Cursor, cmd: Command) -> None:
    cmd.mailbox = _mailbox(cur)
    cmd.messages = parse_messages(cur, _date_time)


def _store(cur: Cursor, cmd: Command) -> None:
    cmd.seqset = parse_seqset(cur)
    cur.sp()
    if cur.accept(b"("):  # RFC 7162 §3.1.3
        if cur.atom("store modifier").upper() != "UNCHANGEDSINCE":
            raise cur.error("the only STORE modifier is UNCHANGEDSINCE")
        cur.sp()
        cmd.unchangedsince = modseq_value(cur)
        cur.expect(b")")
        cur.sp()
    mode = "+" if cur.accept(b"+") else "-" if cur.accept(b"-") else ""
    if not cur.accept(b"FLAGS"):
        raise cur.error("expected FLAGS, +FLAGS or -FLAGS")
    cmd.store_mode = mode
    cmd.silent = cur.accept(b".SILENT")
    cur.sp()
    if cur.peek() == ord("("):
        cmd.flags = tuple(cur.flag_list())
    else:
        flags = [cur.flag()]
        while cur.accept(b" "):
            flags.append(cur.flag())
        cmd.flags = tuple(flags)


def _id(cur: Cursor, cmd: Command) -> None:
    """ID ( "key" "value" ... ) or ID NIL (RFC 2971 §3.1)."""
    if cur.accept(b"NIL"):
        return
    cur.expect(b"(")
    while not cur.accept(b")"):
        if cmd.params:
            cur.sp()
        key = cur.string().decode("utf-8", "replace")
        cur.sp()
        value = cur.nstring_or_nil()
        if len(cmd.params) < 30:  # RFC 2971 §3.3
            cmd.params[key[:30]] = (
                None if value is None else value[:1024].decode("utf-8", "replace")
            )


def _args(cur: Cursor, cmd: Command) -> None:
    name = cmd.name
    if name in NO_ARGS:
        return
    cur.sp()
    if name in ONE_MAILBOX:
        cmd.mailbox = _mailbox(cur)
        if name in ("SELECT", "EXAMINE") and cur.accept(b" ("):
            _select_params(cur, cmd)
    elif name == "CREATE":
        cmd.mailbox = _mailbox(cur)
        if cur.accept(b" (USE "):  # RFC 6154 §3: CREATE-SPECIAL-USE
            cmd.flags = tuple(cur.flag_list())
            cur.expect(b")")
    elif name == "RENAME":
        cmd.mailbox = _mailbox(cur)
        cur.sp()
        cmd.mailbox2 = _mailbox(cur)
    elif name == "LOGIN":
        user = cur.astring("user name")
        cur.sp()
        cmd.strings = (user, cur.astring("password"))
    elif name == "AUTHENTICATE":
        mech = cur.atom("mechanism").upper().encode()
        initial = cur.take(frozenset(range(0x21, 0x7F))) if cur.accept(b" ") else b""
        cmd.strings = (mech, initial) if initial else (mech,)
    elif name == "COMPRESS":  # RFC 4978 §3
        cmd.items = (cur.atom("compression mechanism").upper(),)
    elif name == "ENABLE":
        items = [cur.atom("capability").upper()]
        while cur.accept(b" "):
            items.append(cur.atom("capability").upper())
        cmd.items = tuple(items)
    elif name in ("LIST", "LSUB"):
        _list(cur, cmd)
        if name == "LSUB" and (cmd.items or cmd.returns or len(cmd.patterns) != 1):
            raise cur.error("LSUB takes a reference and one pattern")
    elif name == "STATUS":
        cmd.mailbox = _mailbox(cur)
        cur.sp()
        cmd.items = _paren_atoms(cur, "status item")
        bad = set(cmd.items) - STATUS_ITEMS
        if bad or not cmd.items:
            raise cur.error(f"unknown STATUS item {sorted(bad)[0] if bad else '()'}")
    elif name == "APPEND":
        _append(cur, cmd)
    elif name == "SEARCH":
        cmd.search = parse_search(cur)
    elif name == "FETCH":
        cmd.seqset = parse_seqset(cur)
        cur.sp()
        cmd.fetch = tuple(parse_fetch_atts(cur))
        if cur.accept(b" ("):
            _fetch_modifiers(cur, cmd)
    elif name == "STORE":
        _store(cur, cmd)
    elif name in ("COPY", "MOVE"):
        cmd.seqset = parse_seqset(cur)
        cur.sp()
        cmd.mailbox = _mailbox(cur)
    elif name == "ID":
        _id(cur, cmd)
    elif name == "SETQUOTA":  # RFC 9208 §4.1: root SP "(" [resource SP limit ...] ")"
        cmd.mailbox = _mailbox(cur)
        cur.sp()
        cmd.items = _paren_atoms(cur, "quota resource or limit")
    else:
        raise cur.error(f"unknown command {name}")


def parse_tag(cur: Cursor) -> str:
    tag = cur.take(TAG_CHARS)
    if not tag:
        raise cur.error("expected a tag")
    cur.tag = tag.decode("ascii")
    return cur.tag


def parse_command(parts: Sequence[Part]) -> Command:
    cur = Cursor(parts)
    tag = parse_tag(cur)
    cur.sp()
    name = cur.atom("command").upper()
    cmd = Command(tag, name)
    if name == "UID":
        cur.sp()
        cmd.name = name = cur.atom("command").upper()
        cmd.uid = True
        if name not in UID_COMMANDS:
            raise cur.error(f"UID {name} is not a command")
        if name == "EXPUNGE":
            cur.sp()
            cmd.seqset = parse_seqset(cur)
            cur.end()
            return cmd
    elif name not in NO_ARGS | ONE_MAILBOX | UID_COMMANDS and name not in (
        "CREATE", "RENAME", "LOGIN", "AUTHENTICATE", "ENABLE", "LIST", "LSUB",
        "STATUS", "APPEND", "ID", "SETQUOTA", "COMPRESS",
    ):  # fmt: skip
        raise ParseError(f"unknown command {name}", tag)
    _args(cur, cmd)
    cur.end()
    return cmd
