"""The user's verdicts from their actions (postel.junk.training)."""

from __future__ import annotations

from pathlib import Path

from postel.datadir import DataDir
from postel.junk.db import JunkDB
from postel.junk.filter import JunkFilter, Settings
from postel.junk.training import Trainer, verdict_for_flags, verdict_for_move
from postel.store import Store


def test_verdicts_for_moves() -> None:
    assert verdict_for_move("Inbox", "Junk") is True
    assert verdict_for_move("Archive", "Junk") is True
    assert verdict_for_move("Junk", "Inbox") is False
    assert verdict_for_move("Junk", "Archive") is False
    assert verdict_for_move("Rejects", "Inbox") is False
    assert verdict_for_move("Junk", "Trash") is None  # deleting says nothing
    assert verdict_for_move("Inbox", "Archive") is None
    assert verdict_for_move("Inbox", "Rejects") is None
    assert verdict_for_move("Junk", "Junk") is None


def test_verdicts_for_flags() -> None:
    assert verdict_for_flags("Inbox", ["\\Seen"]) is False  # read and kept
    assert verdict_for_flags("Archive", ["\\Seen"]) is False
    for box in ("Junk", "Trash", "Sent", "Drafts", "Rejects"):
        assert verdict_for_flags(box, ["\\Seen"]) is None
    assert verdict_for_flags("Inbox", ["$Junk"]) is True
    assert verdict_for_flags("Junk", ["$NotJunk"]) is False
    assert verdict_for_flags("Inbox", ["\\Flagged"]) is None


def test_trainer_reads_the_stored_message_and_its_identities(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path)
    datadir.ensure()
    msg = (
        b"Authentication-Results: mail.example.org; dmarc=pass header.from=news.example\r\n"
        b"Received: from x (x [198.51.100.7]) by mail.example.org\r\n"
        b"Subject: cheap pills\r\n\r\ncheap pills now\r\n"
    )
    trainer = Trainer(JunkFilter(datadir.accounts_dir, Settings(), None), "mail.example.org")
    with Store(datadir) as store:
        acc = store.account("u", create=True)
        m = acc.deliver_bytes("Inbox", msg)
        assert trainer.learn_stored("u", acc, m.msgid, spam=True)
        assert not trainer.learn_stored("u", acc, m.msgid, spam=True)  # once
        assert not trainer.learn_stored("u", acc, 999_999, spam=True)  # logged, not raised
    db = JunkDB.open(datadir.account_dir("u"))
    try:
        assert db.totals() == (0, 1)
        rep = db.reputation(["dmarc:news.example", "ip:198.51.100.0/24"])
        assert rep["dmarc:news.example"].spam == 1 and rep["ip:198.51.100.0/24"].spam == 1
    finally:
        db.close()


def test_marking_many_read_at_once_is_no_verdict() -> None:
    """ "Mark all read" on a big mailbox is tidying up: training every message of
    it cost seconds per thousand and said nothing about each."""
    from postel.junk.training import MAX_READ_VERDICTS

    assert verdict_for_flags("Inbox", ["\\Seen"], MAX_READ_VERDICTS) is False
    assert verdict_for_flags("Inbox", ["\\Seen"], MAX_READ_VERDICTS + 1) is None
    assert verdict_for_flags("Inbox", ["$Junk"], 10_000) is True  # an explicit verdict
