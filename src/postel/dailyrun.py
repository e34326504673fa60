"""Who sends a day's outgoing reports (TLS reports, DMARC aggregate reports)
and the daily digest of received reports' findings.

A node with its own data directory sends every run itself (:class:`EveryRun`).
Nodes sharing PostgreSQL send each day's reports once between them
(postel.pg.dailyrun; docs/postgresql.md, Daily reports).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Literal, Protocol

ReportKind = Literal["tls", "dmarc"]
# What a daily run sends: a kind of outgoing report, or the digest of the
# findings in received reports (postel.reportfindings).
RunKind = Literal["tls", "dmarc", "digest"]


class DailyRuns(Protocol):
    def claim(self, kind: RunKind, day: dt.date) -> AbstractContextManager[bool]:
        """Enter around a run of *kind*'s reports on UTC day *day*: True when this
        process is to send them, False when another one sends or sent them.
        A run that ends without an exception counts as done for *day*."""
        ...


class EveryRun:
    """Every run sends: the node is the only one with these results."""

    @contextlib.contextmanager
    def claim(self, kind: RunKind, day: dt.date) -> Iterator[bool]:
        yield True
