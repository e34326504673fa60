"""What the received reports in PostgreSQL share (postel.pg.tlsreports,
postel.pg.dmarcreports): where their connections come from, a report's
identity, duplicates, time windows and the error of a failed store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import psycopg

from postel.pg.errors import PgConnectError, PgError
from postel.pg.pool import SyncConn
from postel.reportstore import AddResult, window_clauses


class PgReportStoreError(PgError):
    """Storing or reading a received report in PostgreSQL failed."""


class Connections(Protocol):
    """A source of connections: a psycopg_pool ConnectionPool, or :class:`OneConnection`."""

    def connection(self) -> AbstractContextManager[SyncConn]: ...


class OneConnection:
    """One autocommit connection as a source of connections, for a process that
    needs no pool (the report intake's child: no pool threads under its
    address-space limit). Not for use by several threads at once."""

    def __init__(self, conn: SyncConn) -> None:
        self._conn = conn

    @classmethod
    def connect(cls, conninfo: str, *, connect_timeout: float, where: str) -> OneConnection:
        """Connect (PgConnectError naming *where*, user@host:port/db, when not)."""
        try:
            conn: SyncConn = psycopg.Connection.connect(
                conninfo, autocommit=True, connect_timeout=max(1, int(connect_timeout))
            )
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise PgConnectError(f"PostgreSQL {where}: {first}") from None
        return cls(conn)

    @contextmanager
    def connection(self) -> Iterator[SyncConn]:
        yield self._conn

    def close(self) -> None:
        self._conn.close()


def ident(*fields: str) -> bytes:
    """The SHA-256 naming a report by its identifying fields (organization and
    report-id; for DMARC also the policy domain)."""
    return hashlib.sha256(json.dumps(list(fields), ensure_ascii=False).encode()).digest()


def pg_window(
    day_since: str | None, received_since: str | None, received_until: str | None
) -> tuple[list[str], list[object]]:
    """postel.reportstore.window_clauses with PostgreSQL's placeholders."""
    clauses, args = window_clauses(day_since, received_since, received_until)
    return [c.replace("?", "%s") for c in clauses], args


def add_duplicate(
    conn: SyncConn,
    table: str,
    report_table: str,
    key: bytes,
    received: str,
    from_addr: str,
    to_rcpt: str,
    message_ref: str,
) -> AddResult:
    """In the caller's transaction: record a further copy of the report *key*
    (stored, committed: its INSERT found the conflict)."""
    row = conn.execute(
        f"SELECT id FROM {report_table} WHERE ident = %s".encode(), (key,)
    ).fetchone()
    if row is None:
        raise PgReportStoreError(f"{report_table}: the conflicting report is gone")
    rid = col_int(row[0])
    conn.execute(
        f"INSERT INTO {table} (report, received, from_addr, to_rcpt, message_ref)"
        " VALUES (%s, %s, %s, %s, %s)".encode(),
        (rid, received, from_addr, to_rcpt, message_ref),
    )
    return AddResult(rid, duplicate=True)


def count(conn: SyncConn, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
    return 0 if row is None else col_int(row[0])


def col_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text column, got {type(value).__name__}")
    return value


def col_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value
