"""What a node opens of the received reports and the MTA-STS policy cache
shared in PostgreSQL, over one synchronous pool of its own: the admin pages
and the digest read the reports in threads, the MTA-STS lookups of deliveries
and of the webmail run their queries in threads (postel.pg.mtastscache). The
report intake stores from its child process, over a connection of its own
(postel.reportintake.stores), a CLI command over one connection
(:func:`connect_received`)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from postel.pg.dmarcreports import PgDMARCReports
from postel.pg.pool import SyncConn, open_sync_pool
from postel.pg.received import OneConnection
from postel.pg.settings import PgSettings
from postel.pg.tlsreports import PgTLSReports

# Connections: concurrent MTA-STS lookups of deliveries, the refresher and an
# admin page or digest at a time; more callers wait for a free one.
POOL_SIZE = 4


@dataclass(frozen=True)
class PgReceived:
    pool: ConnectionPool[SyncConn]
    tls: PgTLSReports
    dmarc: PgDMARCReports

    def close(self) -> None:
        self.pool.close()


def open_received(settings: PgSettings, *, pool_size: int = POOL_SIZE) -> PgReceived:
    """Open the pool (PgConnectError when the server cannot be reached)."""
    pool = open_sync_pool(settings, name="received", max_size=pool_size)
    where = settings.where
    return PgReceived(pool, PgTLSReports(pool, where), PgDMARCReports(pool, where))


@dataclass(frozen=True)
class PgReceivedConn:
    """The received reports over one connection (a CLI command: no pool, no
    threads, one line when the server cannot be reached)."""

    conn: OneConnection
    tls: PgTLSReports
    dmarc: PgDMARCReports

    def close(self) -> None:
        self.conn.close()


def connect_received(settings: PgSettings) -> PgReceivedConn:
    """Connect (PgConnectError when the server cannot be reached)."""
    where = settings.where
    conn = OneConnection.connect(
        settings.conninfo(), connect_timeout=settings.connect_timeout, where=where
    )
    return PgReceivedConn(conn, PgTLSReports(conn, where), PgDMARCReports(conn, where))
