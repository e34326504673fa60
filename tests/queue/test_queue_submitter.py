"""QueueSubmitter: local recipients straight to the store, the rest queued."""

from __future__ import annotations

import pytest
from queue_env import MESSAGE, QEnv

from postel.errors import SMTPReplyError
from postel.queue import QueueSubmitter


async def test_local_and_remote_split(qenv: QEnv) -> None:
    q = qenv.queue()
    sub = QueueSubmitter(qenv.cfg, q.entries, qenv.store)
    spool = qenv.message_file()
    await sub(
        "alice",
        "alice@example.org",
        ["bob@example.org", "x@remote.test", "team@example.org", "y@Remote.TEST"],
        spool,
        False,
    )
    assert qenv.inbox("bob") == [MESSAGE]  # once, though named twice (alias)
    assert qenv.inbox("alice") == [MESSAGE]
    entries = q.db.entries()
    assert [e.rcpt for e in entries] == ["x@remote.test", "y@remote.test"]
    assert entries[0].msg.sender_account == "alice"


async def test_alias_forward_is_queued(qenv: QEnv) -> None:
    q = qenv.queue()
    await QueueSubmitter(qenv.cfg, q.entries, qenv.store)(
        "", "someone@sender.test", ["out@example.org"], qenv.message_file(), True
    )
    assert qenv.inbox("bob") == [MESSAGE]
    [e] = q.db.entries()
    assert e.rcpt == "friend@remote.test" and e.msg.requiretls
    assert e.msg.sender_account == ""


async def test_unknown_local_user_refused(qenv: QEnv) -> None:
    q = qenv.queue()
    with pytest.raises(SMTPReplyError) as info:
        await QueueSubmitter(qenv.cfg, q.entries, qenv.store)(
            "alice", "alice@example.org", ["nobody@example.org"], qenv.message_file(), False
        )
    assert info.value.code == 550 and info.value.enhanced == "5.1.1"
    assert q.db.entries() == []


async def test_only_local_recipients_queue_nothing(qenv: QEnv) -> None:
    q = qenv.queue()
    await QueueSubmitter(qenv.cfg, q.entries, qenv.store)(
        "alice", "alice@example.org", ["bob@example.org"], qenv.message_file(), False
    )
    assert q.db.entries() == [] and qenv.queue_files() == []
