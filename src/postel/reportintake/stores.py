"""Where the intake stores a report: the data directory's tlsrpt.db and
dmarcrpt.db, or on the PostgreSQL store the tables the nodes share.

The intake runs in a child process (postel.reportintake.child) which gets a
postel.pg.target.PgTarget as JSON: the DSN and the password file's path, never the
password, which the child reads from the file itself. The child opens one
connection (no pool: no pool threads under its address-space limit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from postel import dmarcdb, tlsrptdb
from postel.datadir import DataDir
from postel.pg.target import PgTarget

if TYPE_CHECKING:
    from postel.dmarcdb.api import ReceivedDMARCReports
    from postel.pg.received import OneConnection
    from postel.tlsrptdb.api import ReceivedTLSReports


@contextmanager
def _pg(target: PgTarget) -> Iterator[tuple[OneConnection, str]]:
    from postel.pg.received import OneConnection as One

    conninfo, where = target.conninfo()
    conn = One.connect(conninfo, connect_timeout=target.connect_timeout, where=where)
    try:
        yield conn, where
    finally:
        conn.close()


@contextmanager
def tls_reports(datadir: DataDir, pg: PgTarget | None) -> Iterator[tuple[ReceivedTLSReports, str]]:
    """The received TLS reports and where they are (for messages)."""
    if pg is None:
        with tlsrptdb.open(datadir.tlsrpt_db) as db:
            yield db, str(datadir.tlsrpt_db)
        return
    from postel.pg.tlsreports import PgTLSReports

    with _pg(pg) as (conn, where):
        yield PgTLSReports(conn, where), where


@contextmanager
def dmarc_reports(
    datadir: DataDir, pg: PgTarget | None
) -> Iterator[tuple[ReceivedDMARCReports, str]]:
    """The received DMARC reports and where they are (for messages)."""
    if pg is None:
        with dmarcdb.open(datadir.dmarcrpt_db) as db:
            yield db, str(datadir.dmarcrpt_db)
        return
    from postel.pg.dmarcreports import PgDMARCReports

    with _pg(pg) as (conn, where):
        yield PgDMARCReports(conn, where), where
