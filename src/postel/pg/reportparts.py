"""What a node opens of the outgoing reports' data shared in PostgreSQL: the
TLS results, the DMARC evaluations, their suppression lists and the daily
runs, over one synchronous pool of its own (their callers are threads and
synchronous code: the delivery recorder, the SMTP evaluation recorder, the
report senders, admin pages and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from postel.pg.dailyrun import PgDailyRuns
from postel.pg.dmarcevals import PgEvalDB
from postel.pg.pool import SyncConn, open_sync_pool
from postel.pg.settings import PgSettings
from postel.pg.tlsresults import PgResultDB

# Connections: a TLS and a DMARC report run each hold one for their length
# (the advisory lock), the delivery recorder's thread and the event loop
# (admin pages, the senders' queries) one each.
POOL_SIZE = 4


@dataclass(frozen=True)
class PgReports:
    pool: ConnectionPool[SyncConn]
    results: PgResultDB
    evaluations: PgEvalDB
    runs: PgDailyRuns

    def close(self) -> None:
        self.pool.close()


def open_reports(settings: PgSettings, node: str, *, pool_size: int = POOL_SIZE) -> PgReports:
    """Open the pool (PgConnectError when the server cannot be reached)."""
    pool = open_sync_pool(settings, name="reports", max_size=pool_size)
    return PgReports(
        pool, PgResultDB(pool), PgEvalDB(pool, settings.where), PgDailyRuns(pool, node)
    )
