"""The process-wide cache of ENVELOPE/BODYSTRUCTURE answers."""

from __future__ import annotations

from pathlib import Path

from imap_env import MESSAGE

from postel.imapserver.derived import DerivedCache
from postel.imapserver.fetch import StructureCache, fetch_items
from postel.imapserver.fetchatt import FetchAtt
from postel.store import Message


def test_bounded_least_recently_used() -> None:
    cache = DerivedCache(max_entries=2)
    cache.put("a", 1, "ENVELOPE", b"x")
    cache.put("a", 2, "ENVELOPE", b"y")
    assert cache.get("a", 1, "ENVELOPE") == b"x"  # now the most recent
    cache.put("b", 1, "ENVELOPE", b"z")
    assert cache.get("a", 2, "ENVELOPE") is None
    assert cache.get("a", 1, "ENVELOPE") == b"x" and cache.get("b", 1, "ENVELOPE") == b"z"
    assert len(cache) == 2


def test_answers_come_from_the_cache_without_the_file(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    path = tmp_path / "m"
    path.write_bytes(MESSAGE)
    msg = Message(
        msgid=7, mailbox="Inbox", uid=1, flags=frozenset(), size=len(MESSAGE),
        received=datetime(2026, 12, 7, tzinfo=UTC), requiretls=False, subject="", from_="",
        to="", cc="", date=None, message_id="", in_reply_to="", has_attachments=False,
    )  # fmt: skip
    atts = (FetchAtt("ENVELOPE"), FetchAtt("BODYSTRUCTURE"))
    derived = DerivedCache()
    first = fetch_items(
        msg, atts, path.open, StructureCache(), with_uid=False, derived=derived, account="a"
    )
    path.unlink()  # a second answer must not need the file
    again = fetch_items(
        msg, atts, path.open, StructureCache(), with_uid=False, derived=derived, account="a"
    )
    assert again == first and b'"hello there"' in b"".join(x for x in first if isinstance(x, bytes))
