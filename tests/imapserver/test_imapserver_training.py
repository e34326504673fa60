"""The junk filter learns from IMAP clients by the webmail's rules
(postel.junk.training): moves and copies into and out of Junk, $Junk and
$NotJunk, \\Seen in kept mail (by STORE, or by a FETCH of BODY[]); a
training failure never fails the command."""

from __future__ import annotations

import pytest
from imap_env import Env, run

from postel.junk.db import FILE, JunkDB
from postel.junk.filter import message_key


def message(n: int) -> bytes:
    return (
        f"From: someone{n}@example.net\r\nTo: alice@example.org\r\n"
        f"Subject: note {n}\r\nMessage-ID: <n{n}@example.net>\r\n\r\nword{n} text\r\n"
    ).encode()


def trained(env: Env, n: int) -> bool | None:
    db = JunkDB.open(env.cfg.datadir.account_dir("alice"))
    try:
        return db.trained_as(message_key(message(n)))
    finally:
        db.close()


async def test_moves_copies_and_flags_train_the_junk_filter(env: Env) -> None:
    uids = [env.deliver(message(n)) for n in range(7)]
    fetched = env.deliver(message(9))
    peeked = env.deliver(message(10))
    junk_uid = env.deliver(message(7), mailbox="Junk")
    trash_uid = env.deliver(message(8), mailbox="Junk")

    def client() -> None:
        c = env.login()
        c.select("INBOX")
        assert c.uid("MOVE", str(uids[0]), "Junk")[0] == "OK"
        assert c.uid("COPY", str(uids[1]), "Junk")[0] == "OK"
        assert c.uid("STORE", str(uids[2]), "+FLAGS", "($Junk)")[0] == "OK"
        assert c.uid("STORE", str(uids[3]), "+FLAGS", "($NotJunk)")[0] == "OK"
        assert c.uid("STORE", str(uids[4]), "+FLAGS.SILENT", "(\\Seen)")[0] == "OK"
        assert c.uid("STORE", str(uids[5]), "+FLAGS", "(\\Flagged)")[0] == "OK"
        assert c.uid("MOVE", str(uids[6]), "Trash")[0] == "OK"
        assert c.uid("FETCH", str(fetched), "(BODY[])")[0] == "OK"  # sets \Seen: read
        assert c.uid("FETCH", str(peeked), "(BODY.PEEK[])")[0] == "OK"
        c.select("Junk")
        assert c.uid("STORE", str(trash_uid), "+FLAGS", "(\\Seen)")[0] == "OK"
        assert c.uid("MOVE", str(trash_uid), "Trash")[0] == "OK"
        assert c.uid("COPY", str(junk_uid), "INBOX")[0] == "OK"
        c.logout()

    await run(client)
    assert trained(env, 0) is True  # moved into Junk
    assert trained(env, 1) is True  # copied into Junk
    assert trained(env, 2) is True  # $Junk
    assert trained(env, 3) is False  # $NotJunk
    assert trained(env, 4) is False  # read in the Inbox
    assert trained(env, 5) is None  # \Flagged says nothing
    assert trained(env, 6) is None  # deleting is no verdict
    assert trained(env, 8) is None  # read in Junk, then to Trash: none
    assert trained(env, 7) is False  # out of Junk into the Inbox
    assert trained(env, 9) is False  # read with FETCH BODY[] in the Inbox
    assert trained(env, 10) is None  # BODY.PEEK reads nothing


async def test_a_training_failure_does_not_fail_the_command(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    uid = env.deliver(message(1))
    (env.cfg.datadir.account_dir("alice") / FILE).mkdir()  # junk.db cannot be opened

    def client() -> tuple[str, str]:
        c = env.login()
        c.select("INBOX")
        moved = c.uid("MOVE", str(uid), "Junk")[0]
        c.select("Junk")
        stored = c.store("1", "+FLAGS", "($NotJunk)")[0]
        c.logout()
        return moved, stored

    assert await run(client) == ("OK", "OK")
    assert "junk training failed" in caplog.text
