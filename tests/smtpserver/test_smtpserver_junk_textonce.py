"""The text work of an incoming message is done once, whatever the number of
recipient accounts: one body text for the junk filters and the search index
of every account, one feature set for every trained filter (issue 23 item 5,
the filter's cost per message)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from smtpserver_env import Env, run

import postel.junk.filter
import postel.smtpserver.incoming
import postel.store.placing
from postel.junk.reputation import Verified

MSG = (
    b"From: Sender <someone@sender.test>\r\n"
    b"To: team@example.org\r\n"
    b"Subject: quarterly budget\r\n"
    b"Message-ID: <once@sender.test>\r\n"
    b"\r\n"
    b"The budget draft for the zanzibar project is ready for review.\r\n"
)

HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]
SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan"]


def _training(rng: random.Random, vocab: list[str], n: int) -> bytes:
    body = " ".join(rng.choice(vocab) for _ in range(40))
    return (
        f"From: x@t{n}.example\r\nSubject: t{n}\r\nMessage-ID: <{n}@t>\r\n\r\n{body}\r\n".encode()
    )


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str, calls: list[str]) -> None:
    original = getattr(module, name, None)
    if original is None:
        return  # the module does not use it (the code before this change)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{getattr(module, '__name__', '?')}.{name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


async def test_body_text_and_features_once_for_two_trained_accounts(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = env.service.ctx.junk
    assert junk is not None
    rng = random.Random(3)
    for account in ("alice", "bob"):
        for i in range(12):
            junk.train(account, _training(rng, HAM, i), Verified(), spam=False)
            junk.train(account, _training(rng, SPAM, 100 + i), Verified(), spam=True)
    texts: list[str] = []
    feats: list[str] = []
    for module in (postel.store.placing, postel.junk.filter, postel.smtpserver.incoming):
        _counting(monkeypatch, module, "body_text", texts)
    _counting(monkeypatch, postel.junk.filter, "features", feats)

    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            assert c.mail("someone@sender.test")[0] == 250
            assert c.rcpt("team@example.org")[0] == 250  # alice and bob
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    assert len(texts) == 1, texts
    assert len(feats) == 1, feats
    # Both accounts' filters filed it, and both search indexes hold its text.
    for account in ("alice", "bob"):
        found = env.store.account(account).search("zanzibar")
        assert [m.message_id for m in found] == ["<once@sender.test>"], account


async def test_an_untrained_account_costs_no_text_work_in_the_filter(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    feats: list[str] = []
    _counting(monkeypatch, postel.junk.filter, "features", feats)
    counted: Callable[..., Any] = postel.junk.filter.JunkFilter.file
    filings: list[Any] = []

    async def file(self: Any, *args: Any, **kwargs: Any) -> Any:
        filing = await counted(self, *args, **kwargs)
        filings.append(filing)
        return filing

    monkeypatch.setattr(postel.junk.filter.JunkFilter, "file", file)

    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            assert c.mail("someone@sender.test")[0] == 250
            assert c.rcpt("team@example.org")[0] == 250
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    assert feats == []  # no tokenizing for filters whose verdict would be ignored
    assert [f.target for f in filings] == ["inbox", "inbox"]
    assert all(f.score is None and f.reasons == ("not enough training yet",) for f in filings)
    assert env.store.account("alice").search("zanzibar")


async def test_filings_of_messages_arriving_together_are_recorded_in_one_commit(
    tmp_path: Path,
) -> None:
    import asyncio

    from postel.junk.decide import Filing
    from postel.junk.filter import JunkFilter, Settings
    from postel.smtpserver.junkfiling import FilingRecorder

    junk = JunkFilter(tmp_path, Settings(), None)
    commits: list[str] = []
    with junk._db("alice", records=True) as db:  # the connection writing filing records
        db.conn.set_trace_callback(lambda s: commits.append(s) if s == "COMMIT" else None)
    tasks: list[asyncio.Task[None]] = []
    recorder = FilingRecorder(junk, lambda c: tasks.append(asyncio.create_task(c)))
    keys = [f"k{i}" for i in range(5)]
    for key in keys:  # five deliveries answered in the same moment
        recorder.add(key, [("alice", Filing("inbox", None, ()))])
    while tasks:
        await tasks.pop()
    assert [junk.filing("alice", k) for k in keys] == [Filing("inbox", None, ())] * 5
    assert len(commits) == 1, commits
    junk.close()


async def test_filings_arriving_within_the_gathering_time_share_one_commit(
    tmp_path: Path,
) -> None:
    import asyncio

    from postel.junk.decide import Filing
    from postel.junk.filter import JunkFilter, Settings
    from postel.smtpserver.junkfiling import FilingRecorder

    junk = JunkFilter(tmp_path, Settings(), None)
    commits: list[str] = []
    with junk._db("alice", records=True) as db:
        db.conn.set_trace_callback(lambda s: commits.append(s) if s == "COMMIT" else None)
    tasks: list[asyncio.Task[None]] = []
    recorder = FilingRecorder(junk, lambda c: tasks.append(asyncio.create_task(c)), gather=1.0)
    keys = [f"k{i}" for i in range(4)]
    for key in keys:  # deliveries answered a few milliseconds apart
        recorder.add(key, [("alice", Filing("inbox", None, ()))])
        await asyncio.sleep(0.05)
    assert commits == []  # still gathering
    while tasks:
        await tasks.pop()
    assert [junk.filing("alice", k) for k in keys] == [Filing("inbox", None, ())] * 4
    assert len(commits) == 1, commits
    junk.close()
