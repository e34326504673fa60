"""What the parts use of the stored DMARC evaluations: the SMTP recorder adds
them, the report sender reads and deletes them and keeps the report intervals,
the CLI and the delivery recorder use the suppression list.

Implemented by :class:`postel.dmarcevaldb.db.EvalDB` (the node's
dmarceval.db) and postel.pg.dmarcevals.PgEvalDB (shared by the nodes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol

from postel.dmarcevaldb.record import Evaluation
from postel.suppressions import Suppressions


class EvalWriter(Protocol):
    """Where the SMTP processes' recorder stores evaluations."""

    def add(self, evaluations: Iterable[Evaluation]) -> int: ...


class Evaluations(EvalWriter, Suppressions, Protocol):
    def evaluations(
        self, *, through: dt.date | None = None, policy_domain: str | None = None
    ) -> list[Evaluation]: ...

    def days(self) -> list[dt.date]: ...

    def delete(self, ids: Sequence[int]) -> int: ...

    def delete_older_than(self, day: dt.date) -> int: ...

    # Report intervals (RFC 7489 §6.3 ri=).
    def last_report_end(self, policy_domain: str) -> dt.datetime | None: ...

    def set_last_report_end(self, policy_domain: str, end: dt.datetime) -> None: ...

    def close(self) -> None: ...
