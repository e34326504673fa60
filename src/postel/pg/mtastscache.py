"""The MTA-STS policy cache shared by the nodes in PostgreSQL (RFC 8461 §5.1,
docs/mta-sts.md): a policy one node fetched is used by every node.

Rows as mtasts.db keeps them (postel.mtastsdb.cache decides); the row methods
are synchronous over a source of connections and run in a thread when called
from the event loop (:meth:`PgMTASTSCache.run`). The daily refresh claims each
stale row with a conditional UPDATE (the row's lock while it runs, then a
lease in refresh_by/refresh_until): one node refreshes a policy, the others
find it claimed or fresh and skip it. A claim ends when the refreshed row is
stored, or after CLAIM_LEASE when its refresh failed (the next run retries).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from os import PathLike
from typing import ParamSpec, TypeVar

from psycopg.types.json import Jsonb

from postel.columns import col_utc
from postel.mtasts.fetch import DEFAULT_TIMEOUT
from postel.mtastsdb.cache import PolicyCache
from postel.mtastsdb.columns import COLUMNS, cached_policy
from postel.mtastsdb.model import CachedPolicy
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy
from postel.pg.received import Connections
from postel.pg.rows import Row

P = ParamSpec("P")
T = TypeVar("T")

CLAIM_LEASE = dt.timedelta(hours=1)


def _when(value: object, field: str, domain: str) -> dt.datetime:
    return col_utc(value)


def _row(r: Row) -> CachedPolicy:
    # the jsonb column arrives as the decoded object
    return cached_policy(r, table="mtasts_policy", when=_when, policy_obj=lambda v, _d: v)


class PgMTASTSCache(PolicyCache):
    """The shared policy cache over *db* (a pool: the event loop's lookups run
    in threads); *node* names this node in its refresh claims. :meth:`close`
    leaves the connections to whoever opened them."""

    def __init__(
        self,
        db: Connections,
        node: str,
        *,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> None:
        super().__init__(
            extra_ca_files=extra_ca_files,
            https_port=https_port,
            timeout=timeout,
            logger=logger,
            addresses=addresses,
        )
        self._db = db
        self.node = node

    def close(self) -> None:
        pass

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A row method off the event loop: each is a round trip to the server."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def cached(self, domain: str) -> CachedPolicy | None:
        with self._db.connection() as conn:
            r = conn.execute(
                f"SELECT {COLUMNS} FROM mtasts_policy WHERE domain = %s".encode(), (domain,)
            ).fetchone()
        return None if r is None else _row(r)

    def rows(self) -> list[CachedPolicy]:
        with self._db.connection() as conn:
            found = conn.execute(
                f'SELECT {COLUMNS} FROM mtasts_policy ORDER BY domain COLLATE "C"'.encode()
            ).fetchall()
        return [_row(r) for r in found]

    def put(self, p: CachedPolicy) -> None:
        """Insert or replace a row (ending any refresh claim on it)."""
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO mtasts_policy (domain, inserted, valid_end, last_update, last_use,"
                " backoff, record_id, policy, policy_text, failure_type, failure_text)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (domain) DO UPDATE SET inserted = excluded.inserted,"
                " valid_end = excluded.valid_end, last_update = excluded.last_update,"
                " last_use = excluded.last_use, backoff = excluded.backoff,"
                " record_id = excluded.record_id, policy = excluded.policy,"
                " policy_text = excluded.policy_text, failure_type = excluded.failure_type,"
                " failure_text = excluded.failure_text, refresh_by = NULL, refresh_until = NULL",
                (
                    p.domain,
                    p.inserted,
                    p.valid_end,
                    p.last_update,
                    p.last_use,
                    p.backoff,
                    p.record_id,
                    Jsonb(p.policy.to_json()),
                    p.policy_text,
                    p.failure_type,
                    p.failure_text,
                ),
            )

    def delete(self, domain: str) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute("DELETE FROM mtasts_policy WHERE domain = %s", (domain,))
            return cur.rowcount > 0

    def touch(self, domain: str, now: dt.datetime) -> None:
        with self._db.connection() as conn:
            conn.execute("UPDATE mtasts_policy SET last_use = %s WHERE domain = %s", (now, domain))

    def claim_refresh(self, domain: str, stale_before: dt.datetime, now: dt.datetime) -> bool:
        """Claim *domain*'s refresh for this node: only while the row is still
        stale and no other node's claim runs."""
        with self._db.connection() as conn:
            row = conn.execute(
                "UPDATE mtasts_policy SET refresh_by = %s, refresh_until = %s"
                " WHERE domain = %s AND last_update <= %s"
                " AND (refresh_until IS NULL OR refresh_until <= %s) RETURNING domain",
                (self.node, now + CLAIM_LEASE, domain, stale_before, now),
            ).fetchone()
        return row is not None
