"""Helpers of the PostgreSQL queue tests: a clock, entry stores on both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pghelpers import LoopThread, open_migrated

from postel.pg.queue import PgQueueEntries
from postel.pg.settings import PgSettings

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
MESSAGE = b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"


class Clock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t


def migrate_db(loop_thread: LoopThread, settings: PgSettings) -> None:
    pool = loop_thread.run(open_migrated(settings))
    loop_thread.run(pool.close())


def pg_node(
    settings: PgSettings, root: Path, node: str, *, lease: float = 600.0, clock: Clock | None = None
) -> PgQueueEntries:
    """One node's entry store: its own pool, its own spool directory."""
    return PgQueueEntries(
        settings, root / f"spool-{node}", node=node, lease=lease, now=clock or Clock()
    )
