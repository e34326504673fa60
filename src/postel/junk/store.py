"""Where the junk filter keeps its accounts' data, as the filter sees it: the
classifier's counts, the reputation of verified identities, the trained
messages and the filing records of each account. SQLite keeps them in each
account's junk.db (postel.junk.sqlitedata); PostgreSQL in tables shared by
the nodes (postel.pg.junkstore), so that every node files with the training
the user gave through any of them.

Blocking: the filter calls them from threads, never on the event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from postel.junk.classify import Counts
from postel.junk.decide import Filing


class JunkAccountData(Protocol):
    """One account's data. Training is idempotent per message key: training
    a message again as the same kind changes nothing; as the other kind it is
    untrained first, so the counts follow the user's latest verdict."""

    def totals(self) -> tuple[int, int]:
        """Messages trained as (ham, spam); call before :meth:`telling`."""
        ...

    def telling(self, features: Iterable[str]) -> list[tuple[str, float]]:
        """(feature, probability) of the *features* that tell something
        (classify.telling_probability) at the totals read last."""
        ...

    def counts(self, features: Iterable[str]) -> dict[str, Counts]: ...

    def reputation(self, identities: Iterable[str]) -> dict[str, Counts]: ...

    def trained_as(self, key: str) -> bool | None: ...

    def train(
        self, key: str, features: Iterable[str], identities: Sequence[str], *, spam: bool
    ) -> bool: ...

    def untrain(self, key: str, features: Iterable[str]) -> bool: ...

    def record_filings(self, filings: Sequence[tuple[str, Filing]], at: dt.datetime) -> None: ...

    def filing(self, key: str) -> Filing | None: ...


class JunkData(Protocol):
    """The accounts' data. *records*: for writing filing records, which only
    explain a filing (an implementation may keep them less durably, and on a
    connection of their own so that filings do not wait for them)."""

    def account(
        self, name: str, *, records: bool = False
    ) -> AbstractContextManager[JunkAccountData]: ...

    def has(self, name: str) -> bool:
        """Whether *name* has any junk filter data (nothing is created)."""
        ...

    def close(self) -> None: ...
