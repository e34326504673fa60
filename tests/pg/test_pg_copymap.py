"""The pure part of `postel migrate-store` (postel.pg.copymap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from postel.pg.copymap import (
    message_from_sqlite,
    not_copied_line,
    parse_time,
    special_uses,
    sqlite_time,
    uid_fixups,
)


@given(st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=50))
def test_uid_fixups_never_meet_a_taken_uid(originals: list[int]) -> None:
    """Messages delivered afresh get UIDs 1..n in the order of their original
    UIDs; applying the fixups in their order keeps UIDs unique at every step."""
    originals.sort()
    delivered = [(uid, 1, msgid) for msgid, uid in enumerate(originals, start=1)]
    current = {msgid: msgid for _, _, msgid in delivered}  # msgid -> UID now
    for uid, _, msgid in uid_fixups(delivered):
        current[msgid] = uid
        assert len(set(current.values())) == len(current)
    assert sorted(current.values()) == originals


def test_times_round_trip_in_the_sqlite_form() -> None:
    when = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    text = sqlite_time(when)
    assert text == "2025-03-04T03:06:07.890123+00:00"
    assert parse_time(text) == when
    assert parse_time("2025-03-04T03:06:07").tzinfo == UTC  # no offset: UTC


def test_message_row_splits_flags_and_keywords() -> None:
    row = {
        "uid": 7,
        "modseq": 12,
        "flags": "\\Seen \\Flagged",
        "keywords": "$Important",
        "size": 100,
        "received": "2025-03-04T03:06:07.000000+00:00",
        "requiretls": 1,
        "subject": "s",
        "from_addr": "a@example.org",
        "to_addr": "b@example.org",
        "cc": "",
        "date": None,
        "message_id": "<m@example.org>",
        "in_reply_to": "",
        "has_attachments": 0,
        "mime": b"structure",
        "head": None,
    }
    rec = message_from_sqlite(row)
    assert rec.flags == {"\\Seen", "\\Flagged"} and rec.keywords == {"$Important"}
    assert (rec.uid, rec.modseq, rec.requiretls, rec.date) == (7, 12, True, None)
    assert rec.mime == b"structure" and rec.head is None


def test_not_copied_lines_name_path_and_what() -> None:
    assert not_copied_line("tlsrpt.db", "tlsrpt") == "not copied: tlsrpt.db: received TLS reports"
    assert not_copied_line("x.db", "future") == "not copied: x.db: the future database"


def test_default_mailboxes_made_on_postgresql_get_their_use() -> None:
    kept = {"Inbox": "", "Sent": "", "Trash": "", "Archive": "", "Old": "\\Archive", "x": ""}
    assert special_uses(kept) == {
        "Inbox": "",
        "Sent": "\\Sent",
        "Trash": "\\Trash",
        "Archive": "",  # its use is on "Old"
        "Old": "\\Archive",
        "x": "",
    }
