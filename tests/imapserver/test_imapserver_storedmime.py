"""FETCH from the MIME structure stored at delivery: the same bytes as from
the message file, ENVELOPE and BODYSTRUCTURE without reading the file, and mail
stored before structures were gets its structure on first FETCH."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from imap_env import MESSAGE, Env, raw_tls, run
from test_imapserver_mime import NESTED

from postel.imapserver.derived import DerivedCache
from postel.imapserver.fetch import StructureCache, fetch_items, stored_item
from postel.imapserver.fetchatt import FetchAtt, Section
from postel.store import Message
from postel.store.mimestructure import HEAD_FIELDS, Stored, dump, stored_form, structure_of

EIGHT_BIT = (
    b"From: J\xc3\xb6rg <j@example.org>\r\n"
    b"Subject: \xe9t\xe9\r\n"
    b"To: undisclosed-recipients:;\r\n"
    b"Content-Type: multipart/digest; boundary=d\r\n"
    b"\r\n"
    b"--d\r\n"
    b"\r\n"
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nbody one\r\n"
    b"--d\r\n"
    b"\r\n"
    b"Subject: two\r\n\r\nbody two\r\n"
    b"--d--\r\n"
)

ATTS = [
    (FetchAtt("ENVELOPE"),),
    (FetchAtt("BODYSTRUCTURE"), FetchAtt("BODY")),
    (FetchAtt("BODY", Section(text="HEADER.FIELDS", fields=("FROM", "SUBJECT", "DATE"))),),
    (FetchAtt("BODY", Section(text="HEADER.FIELDS.NOT", fields=("TO",))),),
    (FetchAtt("BODY", Section(text="HEADER")), FetchAtt("BODY", Section(text="TEXT"))),
    (FetchAtt("BODY", Section(part=(1,))), FetchAtt("BODY", Section(part=(2,), text="MIME"))),
    (FetchAtt("BODY", Section(part=(2, 1))), FetchAtt("BODY", Section(part=(2,), text="HEADER"))),
    (FetchAtt("BODY", Section(part=(3,))), FetchAtt("BINARY.SIZE", Section(part=(1,)))),
    (FetchAtt("RFC822.HEADER"), FetchAtt("BODY", Section(), partial=(3, 10))),
]


def _message(size: int) -> Message:
    return Message(
        msgid=1, mailbox="Inbox", uid=1, flags=frozenset(), size=size,
        received=datetime(2026, 12, 7, tzinfo=UTC), requiretls=False, subject="", from_="",
        to="", cc="", date=None, message_id="", in_reply_to="", has_attachments=False,
    )  # fmt: skip


@pytest.mark.parametrize("data", [MESSAGE, NESTED, EIGHT_BIT], ids=["plain", "nested", "8bit"])
@pytest.mark.parametrize("atts", ATTS, ids=range(len(ATTS)))
def test_answers_are_byte_identical_with_the_stored_structure(
    tmp_path: Path, data: bytes, atts: tuple[FetchAtt, ...]
) -> None:
    path = tmp_path / "m"
    path.write_bytes(data)
    msg = _message(len(data))
    from_file = fetch_items(msg, atts, _reader(path), StructureCache(), with_uid=True)
    stored = Stored(dump(structure_of(data)))
    from_index = fetch_items(
        msg, atts, _reader(path), StructureCache(), with_uid=True, stored=stored
    )
    assert from_index == from_file


def _reader(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


@pytest.mark.parametrize("data", [MESSAGE, NESTED, EIGHT_BIT], ids=["plain", "nested", "8bit"])
@pytest.mark.parametrize("atts", ATTS, ids=range(len(ATTS)))
def test_answers_are_the_same_from_a_stream_that_is_no_file(
    tmp_path: Path, data: bytes, atts: tuple[FetchAtt, ...]
) -> None:
    # A store whose content is not in local files (an object store) gives a
    # plain binary stream: FETCH reads it instead of mapping a file.
    path = tmp_path / "m"
    path.write_bytes(data)
    msg = _message(len(data))
    from_file = fetch_items(msg, atts, _reader(path), StructureCache(), with_uid=True)
    from_stream = fetch_items(msg, atts, lambda: io.BytesIO(data), StructureCache(), with_uid=True)
    assert from_stream == from_file


def _fetch(env: Env, command: bytes) -> list[bytes]:
    r = raw_tls(env)
    r.cmd(b"s SELECT INBOX")
    out = r.cmd(command)
    r.close()
    return out


async def test_envelope_and_bodystructure_need_no_file(env: Env) -> None:
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    env.deliver(NESTED)
    account = env.store.account("alice")
    msg = account.get_by_uid("Inbox", 1)
    account.message_path(msg.msgid).unlink()
    out = await run(lambda: _fetch(env, b"f FETCH 1 (ENVELOPE BODYSTRUCTURE)"))
    assert out[-1] == b"f OK FETCH completed\r\n"
    text = b"".join(out)
    assert b'"nested"' in text and b'"inner"' in text and b'"MIXED"' in text


async def test_mail_stored_before_gets_its_structure_on_first_fetch(env: Env) -> None:
    for data in (MESSAGE, NESTED, EIGHT_BIT):
        env.deliver(data)
    account = env.store.account("alice")
    command = (
        b"f FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] "
        b"BODY.PEEK[2] BODY.PEEK[1.MIME])"
    )
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    with_stored = await run(lambda: _fetch(env, command))
    ids = [account.get_by_uid("Inbox", uid).msgid for uid in (1, 2, 3)]
    blobs = account.structures(ids)
    account._conn.execute("DELETE FROM message_mime")
    account._conn.commit()
    assert account.structures(ids) == {}
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    from_files = await run(lambda: _fetch(env, command))
    assert from_files == with_stored
    assert account.structures(ids) == blobs  # kept for the next FETCH


FOLDED = (
    b"Received: from x\r\n\tby y\r\n"
    b"From: Ann <ann@example.org>\r\n"
    b"Subject: a long\r\n subject, folded\r\n"
    b"subject :second\r\n"
    b"date:Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    b"References: <a@x>\r\n\t<b@x>\r\n"
    b"\r\n"
    b"From: not a header line\r\n"
)
HEADS = {
    "plain": MESSAGE,
    "nested": NESTED,
    "8bit": EIGHT_BIT,
    "folded": FOLDED,
    "bare-lf": FOLDED.replace(b"\r\n", b"\n"),
}
FIELDS = [("FROM", "SUBJECT", "DATE"), ("References", "to", "Message-ID"), ("X-UNKNOWN",)]


@pytest.mark.parametrize("name", list(HEADS))
@pytest.mark.parametrize("fields", FIELDS, ids=range(len(FIELDS)))
def test_header_fields_from_the_stored_head_are_those_of_the_file(
    tmp_path: Path, name: str, fields: tuple[str, ...]
) -> None:
    data = HEADS[name]
    path = tmp_path / "m"
    path.write_bytes(data)
    msg = _message(len(data))
    atts = (FetchAtt("BODY", Section(text="HEADER.FIELDS", fields=fields)),)
    from_file = fetch_items(msg, atts, _reader(path), StructureCache(), with_uid=True)
    mime, head = stored_form(data)
    if all(f.lower() in HEAD_FIELDS for f in fields):
        path.unlink()  # not read
    from_head = fetch_items(
        msg, atts, _reader(path), StructureCache(), with_uid=True, stored=Stored(mime), head=head
    )
    assert from_head == from_file


async def test_header_fields_need_no_file(env: Env) -> None:
    env.deliver(FOLDED)
    account = env.store.account("alice")
    account.message_path(account.get_by_uid("Inbox", 1).msgid).unlink()
    out = await run(lambda: _fetch(env, b"f FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])"))
    assert out[-1] == b"f OK FETCH completed\r\n"
    assert b"".join(out[:-1]) == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {83}\r\n"
        b"From: Ann <ann@example.org>\r\n"
        b"Subject: a long\r\n subject, folded\r\n"
        b"subject :second\r\n\r\n)\r\n"
    )


async def test_answers_made_once_are_kept_by_the_store(env: Env) -> None:
    """ENVELOPE and BODYSTRUCTURE made by one FETCH are answered afterwards
    without the structure or the file, after a restart too (a new cache)."""
    env.deliver(NESTED)
    account = env.store.account("alice")
    command = b"f FETCH 1 (ENVELOPE BODYSTRUCTURE)"
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    first = await run(lambda: _fetch(env, command))
    msgid = account.get_by_uid("Inbox", 1).msgid
    assert set(account.answers([msgid])[msgid]) == {
        stored_item("ENVELOPE"),
        stored_item("BODYSTRUCTURE"),
    }
    account._conn.execute("DELETE FROM message_mime")
    account._conn.commit()
    account.message_path(msgid).unlink()
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    again = await run(lambda: _fetch(env, command))
    assert again == first and first[-1] == b"f OK FETCH completed\r\n"


async def test_mail_stored_before_header_fields_gets_them_on_first_fetch(env: Env) -> None:
    for data in HEADS.values():
        env.deliver(data)
    account = env.store.account("alice")
    ids = [account.get_by_uid("Inbox", uid).msgid for uid in range(1, len(HEADS) + 1)]
    heads = account.heads(ids)
    assert set(heads) == set(ids)
    command = b"f FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"
    with_heads = await run(lambda: _fetch(env, command))
    account._conn.execute("UPDATE message_mime SET head = NULL")  # as before migration 6
    account._conn.commit()
    assert account.heads(ids) == {}
    from_files = await run(lambda: _fetch(env, command))
    assert from_files == with_heads
    assert account.heads(ids) == heads  # kept for the next FETCH


async def test_answers_kept_in_another_format_are_made_again(env: Env) -> None:
    env.deliver(NESTED)
    account = env.store.account("alice")
    msgid = account.get_by_uid("Inbox", 1).msgid
    command = b"f FETCH 1 (ENVELOPE)"
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    right = await run(lambda: _fetch(env, command))
    # As an earlier release with another ENVELOPE format would have left it:
    account._conn.execute("UPDATE message_answer SET item = 'ENVELOPE', value = x'4e494c'")
    account._conn.commit()
    env.service.ctx.derived = DerivedCache()  # type: ignore[union-attr]
    assert await run(lambda: _fetch(env, command)) == right
    assert account.answers([msgid])[msgid][stored_item("ENVELOPE")] in b"".join(right)
