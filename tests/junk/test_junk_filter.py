"""The junk filter of an account, from the user's verdicts to the filing of
the next message (postel.junk.filter)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from postel.dns.mock import MockResolver
from postel.junk.db import JunkDB
from postel.junk.decide import GTUBE, Thresholds
from postel.junk.filter import JunkFilter, Settings, message_key
from postel.junk.reputation import Verified

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]
COMMON = ["the", "and", "you", "for", "with", "this", "that", "have", "from", "your"]


def message(rng: random.Random, vocab: list[str], subject: str) -> bytes:
    body = " ".join(rng.choice(vocab + COMMON) for _ in range(60))
    return (
        f"From: x@sender.example\r\nSubject: {subject}\r\nMessage-ID: <{rng.random()}@x>\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def sender(n: int) -> Verified:
    return Verified(dmarc_from=f"s{n}.example", spf=f"s{n}.example", ip=f"198.51.{n}.7")


async def test_moving_spam_to_junk_files_the_next_similar_message_in_junk(
    tmp_path: Path,
) -> None:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(5)
    # A new account: nothing is filed away yet.
    first = await jf.file("u", message(rng, SPAM, "cheap pills"), sender(100))
    assert first.target == "inbox" and first.reasons == ("not enough training yet",)
    for i in range(12):  # mail the user read and kept
        assert jf.train("u", message(rng, HAM, "project"), sender(i), spam=False)
    for i in range(20):  # and the 20 spam messages moved to Junk
        assert jf.train("u", message(rng, SPAM, "win"), sender(50 + i), spam=True)
    nxt = await jf.file("u", message(rng, SPAM, "cheap pills"), sender(101))
    assert nxt.target == "junk", nxt
    assert nxt.score is not None and nxt.score >= 0.9
    assert any(r.startswith("junk score") for r in nxt.reasons)
    ham = await jf.file("u", message(rng, HAM, "agenda"), sender(102))
    assert ham.target == "inbox" and ham.score is not None and ham.score < 0.1
    # Another account learnt nothing from this one.
    assert (await jf.file("v", message(rng, SPAM, "x"), sender(101))).target == "inbox"


async def test_moving_a_message_out_of_junk_trusts_its_verified_sender(tmp_path: Path) -> None:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(6)
    for i in range(12):
        jf.train("u", message(rng, HAM, "project"), sender(i), spam=False)
    for i in range(20):
        jf.train("u", message(rng, SPAM, "win"), sender(50 + i), spam=True)
    newsletter = sender(200)
    msg = message(rng, SPAM, "prize draw")
    assert (await jf.file("u", msg, newsletter)).target == "junk"
    assert jf.train("u", msg, newsletter, spam=False)  # moved out of Junk
    assert not jf.train("u", msg, newsletter, spam=False)  # again: no change
    following = await jf.file("u", message(rng, SPAM, "another prize"), newsletter)
    assert following.target == "inbox"
    assert following.reasons == ("you kept mail from dmarc:s200.example before",)
    # An unverified look-alike (same From text, no DMARC pass, other network) is not trusted.
    forged = Verified(ip="203.0.113.9")
    assert (await jf.file("u", message(rng, SPAM, "prize"), forged)).target == "junk"


async def test_gtube_is_refused(tmp_path: Path) -> None:
    jf = JunkFilter(tmp_path, Settings(), None)
    msg = b"Subject: test\r\n\r\n" + GTUBE + b"\r\n"
    f = await jf.file("u", msg, Verified())
    assert f.target == "refuse" and f.reasons == ("GTUBE test string",)


async def test_dnsbl_listing_files_in_junk_for_global_senders_only(tmp_path: Path) -> None:
    r = MockResolver({("160.69.2.81.bl.test", "A"): ["127.0.0.2"],
                      ("1.0.0.127.bl.test", "A"): ["127.0.0.2"]})  # fmt: skip
    jf = JunkFilter(tmp_path, Settings(dnsbl_zones=("bl.test",)), r)
    listed = await jf.file("u", b"Subject: a\r\n\r\nhello\r\n", Verified(ip="81.2.69.160"))
    assert listed.target == "junk" and listed.reasons == ("listed by bl.test",)
    # A loopback sender is not looked up unless the config says so (tests).
    local = await jf.file("u", b"Subject: a\r\n\r\nhello\r\n", Verified(ip="127.0.0.1"))
    assert local.target == "inbox" and ("1.0.0.127.bl.test", "A") not in r.queries
    jf2 = JunkFilter(tmp_path, Settings(dnsbl_zones=("bl.test",), dnsbl_internal_senders=True), r)
    assert (
        await jf2.file("u", b"Subject: a\r\n\r\nx\r\n", Verified(ip="127.0.0.1"))
    ).target == "junk"


def test_per_account_thresholds_and_content_keys(tmp_path: Path) -> None:
    s = Settings(accounts={"strict": Thresholds(junk=0.5, reject=0.9)})
    assert s.for_account("strict").junk == 0.5 and s.for_account("other").junk == 0.9
    assert message_key(b"a") == message_key(b"a") != message_key(b"b")


async def test_the_junk_db_stays_open_between_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening junk.db cost more than filing a message (bench/NOTES.md).
    opened: list[Path] = []
    real_open = JunkDB.open.__func__  # type: ignore[attr-defined]

    def counting_open(cls: type[JunkDB], account_dir: Path, *, durable: bool = True) -> JunkDB:
        opened.append(account_dir)
        db: JunkDB = real_open(cls, account_dir, durable=durable)
        return db

    monkeypatch.setattr(JunkDB, "open", classmethod(counting_open))
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(8)
    for i in range(3):
        jf.train("u", message(rng, HAM, "project"), sender(i), spam=False)
        await jf.file("u", message(rng, SPAM, "win"), sender(i))
    assert opened == [tmp_path / "u"]
    jf.close()
    await jf.file("u", message(rng, SPAM, "win"), sender(9))
    assert opened == [tmp_path / "u", tmp_path / "u"]
    jf.close()


async def test_an_account_removed_and_added_again_starts_afresh(tmp_path: Path) -> None:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(9)
    for i in range(12):
        jf.train("u", message(rng, HAM, "project"), sender(i), spam=False)
    for i in range(20):
        jf.train("u", message(rng, SPAM, "win"), sender(50 + i), spam=True)
    assert (await jf.file("u", message(rng, SPAM, "cheap"), sender(101))).target == "junk"
    shutil.rmtree(tmp_path / "u")
    (tmp_path / "u").mkdir()
    again = await jf.file("u", message(rng, SPAM, "cheap"), sender(101))
    assert again.target == "inbox" and again.reasons == ("not enough training yet",)
    assert jf.train("u", message(rng, HAM, "project"), sender(1), spam=False)
    db = JunkDB.open(tmp_path / "u")
    try:
        assert db.totals() == (1, 0)
    finally:
        db.close()
    jf.close()
