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
from postel.imapserver.fetch import StructureCache, fetch_items
from postel.imapserver.fetchatt import FetchAtt, Section
from postel.store import Message
from postel.store.mimestructure import Stored, dump, structure_of

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
