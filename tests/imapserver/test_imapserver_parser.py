"""The command parser: tags, strings, literals, sequence sets, FETCH items, SEARCH keys."""

from __future__ import annotations

from datetime import date

import pytest

from postel.imapserver import searchkeys as sk
from postel.imapserver.command import parse_command
from postel.imapserver.errors import ParseError
from postel.imapserver.fetchatt import Section
from postel.imapserver.seqset import STAR, format_uids


def test_login_with_quoted_and_literal() -> None:
    cmd = parse_command([b'a1 LOGIN "al\\"ice" ', b"pa ss", b""])
    assert (cmd.tag, cmd.name, cmd.strings) == ("a1", "LOGIN", (b'al"ice', b"pa ss"))


def test_uid_fetch_items() -> None:
    cmd = parse_command(
        [b"t UID FETCH 1:*,7 (FLAGS BODY.PEEK[1.2.MIME] BODY[HEADER.FIELDS (From Subject)]<0.100>)"]
    )
    assert cmd.uid and cmd.name == "FETCH"
    assert cmd.seqset is not None and cmd.seqset.ranges == ((1, STAR), (7, 7))
    flags, mime, fields = cmd.fetch
    assert flags.name == "FLAGS"
    assert mime.peek and mime.section == Section((1, 2), "MIME")
    assert fields.section == Section((), "HEADER.FIELDS", ("FROM", "SUBJECT"))
    assert fields.partial == (0, 100)
    assert fields.response_name() == "BODY[HEADER.FIELDS (FROM SUBJECT)]<0>"
    assert not mime.sets_seen and fields.sets_seen


def test_fetch_macros() -> None:
    cmd = parse_command([b"t FETCH 1 FAST"])
    assert [a.name for a in cmd.fetch] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]


def test_search_keys() -> None:
    cmd = parse_command(
        [b't UID SEARCH CHARSET UTF-8 OR FROM "bob" NOT SEEN SINCE 1-Feb-2024 UID 3:5 LARGER 10']
    )
    assert cmd.search is not None
    key = cmd.search.key
    assert isinstance(key, sk.And)
    a, since, uid, larger = key.keys
    assert a == sk.Or(sk.Header("FROM", "bob"), sk.Not(sk.Flag("\\Seen", True)))
    assert since == sk.Date("SINCE", date(2024, 2, 1), sent=False)
    assert isinstance(uid, sk.Seq) and uid.uid
    assert larger == sk.Size(True, 10)


def test_search_return_options() -> None:
    cmd = parse_command([b"t SEARCH RETURN (MIN COUNT) UNSEEN"])
    assert cmd.search is not None and cmd.search.returns == ("MIN", "COUNT")


def test_store_and_append() -> None:
    cmd = parse_command([b"t STORE 2 -FLAGS.SILENT (\\Seen $Junk)"])
    assert (cmd.store_mode, cmd.silent, cmd.flags) == ("-", True, ("\\Seen", "$Junk"))
    cmd = parse_command([b't APPEND Sent (\\Seen) "07-Dec-2026 10:00:00 +0100" ', b"data", b""])
    (msg,) = cmd.messages
    assert msg.data == b"data" and msg.flags == ("\\Seen",)
    assert msg.date is not None and msg.date.utcoffset() is not None
    assert msg.date.isoformat() == "2026-12-07T10:00:00+01:00"


def test_list_extended() -> None:
    cmd = parse_command([b't LIST (SPECIAL-USE) "" ("*" "%") RETURN (STATUS (MESSAGES UNSEEN))'])
    assert cmd.items == ("SPECIAL-USE",)
    assert cmd.patterns == (b"*", b"%")
    assert cmd.returns == ("STATUS MESSAGES", "STATUS UNSEEN")


@pytest.mark.parametrize(
    ("line", "tag"),
    [
        (b"", "*"),
        (b"a1", "a1"),
        (b"a1 FROB", "a1"),
        (b"a1 FETCH 0 FLAGS", "a1"),
        (b"a1 FETCH 1 (FLAGS", "a1"),
        (b"a1 FETCH 1 BODY[9.HEADER.X]", "a1"),
        (b'a1 LOGIN "unterminated', "a1"),
        (b"a1 SEARCH FOO", "a1"),
        (b"a1 NOOP extra", "a1"),
        (b"a1 UID FROB 1", "a1"),
        (b"a1 STORE 1 FLAGS (\\Seen", "a1"),
        (b"a1 SEARCH " + b"NOT " * 100 + b"ALL", "a1"),
        (b"a1 FETCH 99999999999 FLAGS", "a1"),
        (b"a+b NOOP", "a"),
    ],
)
def test_bad_commands_name_their_tag(line: bytes, tag: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_command([line])
    assert info.value.tag == tag


def test_format_uids() -> None:
    assert format_uids([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"


def test_rfc7162_modifiers_parse() -> None:
    from postel.imapserver.searchkeys import ModSeq

    sel = parse_command([b"a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))"])
    assert sel.qresync is not None
    assert (sel.qresync.uidvalidity, sel.qresync.modseq) == (67890007, 90060115194045000)
    assert sel.qresync.known_uids is not None and sel.qresync.match is None
    sel = parse_command([b"a EXAMINE INBOX (QRESYNC (1 2 1:9 (1,5 3,9)))"])
    assert sel.qresync is not None and sel.qresync.match is not None
    assert parse_command([b"a SELECT INBOX (CONDSTORE)"]).condstore
    f = parse_command([b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)"])
    assert (f.changedsince, f.vanished) == (12345, True)
    s = parse_command([b"a STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)"])
    assert (s.unchangedsince, s.store_mode, s.silent) == (0, "+", True)
    q = parse_command([b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338'])
    assert q.search is not None and q.search.key == ModSeq(620162338)
    assert parse_command([b"a STATUS INBOX (HIGHESTMODSEQ)"]).items == ("HIGHESTMODSEQ",)
    for bad in (
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",  # VANISHED needs UID FETCH
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)",
        b"a STORE 1 (FOO 1) FLAGS (\\Seen)",
        b"a SELECT INBOX (QRESYNC (0 1))",
    ):
        with pytest.raises(ParseError):
            parse_command([bad])
