"""What the parts use of the outgoing TLS results: the delivery recorder adds
attempts, the report sender reads, marks and deletes rows, the admin pages and
the CLI list them and manage the suppression list.

Implemented by :class:`postel.tlsrptresultdb.db.ResultDB` (the node's
tlsrptresult.db) and postel.pg.tlsresults.PgResultDB (shared by the nodes).
Every method is safe to call from several threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from postel.suppressions import Suppressions
from postel.tlsrptresultdb.record import AttemptResults, ResultRow


class TLSResults(Suppressions, Protocol):
    def add_attempt(
        self, attempt: AttemptResults, *, send_report: bool, now: dt.datetime | None = None
    ) -> list[ResultRow]: ...

    def add_attempts(
        self, attempts: Sequence[tuple[AttemptResults, bool]], *, now: dt.datetime | None = None
    ) -> list[ResultRow]: ...

    def rows(
        self, *, day: dt.date | None = None, policy_domain: str | None = None
    ) -> list[ResultRow]: ...

    def days(self) -> list[dt.date]: ...

    def mark_sent(
        self,
        day: dt.date,
        policy_domain: str,
        *,
        to_recipient_domain: bool,
        reporting_addresses: list[str] | None = None,
        recipient_domain: str | None = None,
    ) -> None: ...

    def delete(
        self,
        day: dt.date,
        policy_domain: str | None = None,
        *,
        recipient_domain: str | None = None,
    ) -> int: ...

    def delete_older_than(self, day: dt.date) -> int: ...

    def close(self) -> None: ...
