"""A trained account whose token table is in memory is classified on the
event loop (postel.junk.cache.Resident): the thread reads only the totals
and the reputation; what it cannot answer from memory goes to a thread."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from postel.junk.cache import Lookup, Scan, TellingCache
from postel.junk.classify import telling_probability
from postel.junk.filter import JunkFilter, Prepared, Settings
from postel.junk.keys import feature_key
from postel.junk.reputation import Verified

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]


def message(rng: random.Random, vocab: list[str], subject: str) -> bytes:
    body = " ".join(rng.choice(vocab) for _ in range(50))
    return f"From: x@sender.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


class WhereComputed(Prepared):
    """A message's text work that notes the thread its features are made in."""

    __slots__ = ("threads",)

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.threads: list[threading.Thread] = []

    def features(self) -> frozenset[str]:
        self.threads.append(threading.current_thread())
        return super().features()


async def test_a_trained_account_in_memory_is_classified_on_the_event_loop(
    tmp_path: Path,
) -> None:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(3)
    for _ in range(12):
        jf.train("u", message(rng, HAM, "project"), Verified(), spam=False)
        jf.train("u", message(rng, SPAM, "win"), Verified(), spam=True)
    spam = message(rng, SPAM, "cheap pills")
    # The first filing reads the account's table into memory, in a thread.
    first = WhereComputed(spam)
    before = await jf.file("u", first, Verified())
    assert first.threads and first.threads[0] is not threading.main_thread()
    # The next ones find their features there, on the event loop: the same filing.
    again = WhereComputed(spam)
    after = await jf.file("u", again, Verified())
    assert again.threads == [threading.main_thread()]
    assert after == before and after.target == "junk"
    ham = WhereComputed(message(rng, HAM, "agenda"))
    assert (await jf.file("u", ham, Verified())).target == "inbox"
    assert ham.threads == [threading.main_thread()]
    jf.close()


def rows_of(counts: dict[str, tuple[int, int]]) -> tuple[Scan, Lookup]:
    table = sorted((feature_key(f), h, s) for f, (h, s) in counts.items())

    def scan(limit: int) -> list[tuple[int, int, int]]:
        return table[: limit + 1]

    def lookup(keys: dict[int, str]) -> list[tuple[int, int, int]]:
        return [row for row in table if row[0] in keys]

    return scan, lookup


def test_resident_answers_from_memory_only_while_nothing_changes_it() -> None:
    counts = {"cheap": (0, 9), "pills": (1, 8), "meeting": (9, 0), "the": (5, 5)}
    scan, lookup = rows_of(counts)
    cache = TellingCache()
    assert cache.resident() is None  # nothing read yet
    cache.check(1, (10, 10))
    expected = cache.telling(["cheap", "meeting", "the", "unseen"], lookup, scan)
    assert sorted(expected) == sorted(
        (f, telling_probability(*counts[f], 10, 10)) for f in ("cheap", "meeting")
    )
    resident = cache.resident()
    assert resident is not None
    got = resident.telling(["cheap", "pills", "meeting", "the"])
    assert got is not None
    assert sorted(got) == sorted(
        (f, telling_probability(*counts[f], 10, 10)) for f in ("cheap", "pills", "meeting")
    )
    # Busy in a thread: no waiting on the event loop, the caller asks a thread.
    with cache._mutex:
        assert resident.telling(["cheap"]) is None
    assert resident.telling(["cheap"]) is not None
    # Trained since: the snapshot's totals are gone.
    cache.check(2, (11, 10))
    assert resident.telling(["cheap"]) is None
