"""The junk filter at delivery: a message received over SMTP is
filed by the recipient's own verdicts; GTUBE is refused; the reasons are kept
for the user. The user's verdicts are given through postel.junk here (the
webmail and IMAP train it through the same calls)."""

from __future__ import annotations

import os
import random
import smtplib
import time
from pathlib import Path

import pytest
from serverthread import serving

from postel.config import load_config
from postel.junk.decide import GTUBE
from postel.junk.filter import JunkFilter, Settings, message_key
from postel.junk.reputation import Verified
from postel.localserve import ACCOUNT, ADDRESS, PORTS, ensure_local_config
from postel.store import Store

pytestmark = pytest.mark.integration

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]
COMMON = ["the", "and", "you", "for", "with", "this", "that", "have", "from", "your"]


def message(rng: random.Random, vocab: list[str], subject: str) -> bytes:
    body = " ".join(rng.choice(vocab + COMMON) for _ in range(60))
    return (
        f"From: someone@sender.example\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{rng.random()}@sender.example>\r\n\r\n{body}\r\n"
    ).encode()


def send(ip: str, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(ip, PORTS["smtp"], timeout=30) as c:
        c.ehlo("client.example")
        c.mail("someone@sender.example")
        c.rcpt(ADDRESS)
        code, text = c.data(data)
    return code, text


def wait_stored(data_dir: Path, mailbox: str, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while True:
        with _store(data_dir) as store:
            msgs = store.account(ACCOUNT).list_messages(mailbox)
        if len(msgs) >= count or time.monotonic() > deadline:
            return [m.msgid for m in msgs]
        time.sleep(0.1)


def _store(data_dir: Path) -> Store:
    from postel.datadir import DataDir

    return Store(DataDir(data_dir))


def test_gtube_refused_and_trained_spam_filed_in_junk(tmp_path: Path) -> None:
    ip = f"127.{os.getpid() % 200 + 20}.{int(time.time()) % 250 + 1}.9"
    info = ensure_local_config(tmp_path, ip=ip)
    cfg = load_config(info.config_dir)
    rng = random.Random(7)
    with serving(cfg):
        code, text = send(ip, b"Subject: test\r\n\r\n" + GTUBE + b"\r\n")
        assert code == 554 and b"refused as junk (GTUBE test string)" in text
        # A new account: spam still lands in the Inbox.
        assert send(ip, message(rng, SPAM, "cheap pills"))[0] == 250
        # The user keeps 12 messages and moves 20 spam messages to Junk.
        jf = JunkFilter(cfg.datadir.accounts_dir, Settings(), None)
        for i in range(12):
            jf.train(ACCOUNT, message(rng, HAM, f"project {i}"), Verified(), spam=False)
        for i in range(20):
            jf.train(ACCOUNT, message(rng, SPAM, f"win {i}"), Verified(), spam=True)
        assert send(ip, message(rng, SPAM, "cheap pills again"))[0] == 250
        assert send(ip, message(rng, HAM, "agenda for tomorrow"))[0] == 250
        junk = wait_stored(cfg.datadir.root, "Junk", 1)
        inbox = wait_stored(cfg.datadir.root, "Inbox", 2)
    assert len(junk) == 1 and len(inbox) >= 2
    with _store(cfg.datadir.root) as store:
        acc = store.account(ACCOUNT)
        with acc.open_message(junk[0]) as f:
            stored = f.read()
    assert b"Subject: cheap pills again" in stored
    # Why it is there, for the webmail to show.
    filing = jf.filing(ACCOUNT, message_key(stored))
    assert filing is not None and filing.target == "junk"
    assert filing.reasons[0].startswith("junk score ")
