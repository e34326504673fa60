"""What the received reports in PostgreSQL share (postel.pg.tlsreports,
postel.pg.dmarcreports): where their connections come from, a report's
identity, storing with duplicates, reading one back, pages, time windows and
the error of a failed store."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import ClassVar, Generic, Protocol, TypeVar

import psycopg

from postel.columns import col_int, col_str
from postel.pg.errors import PgConnectError, PgError
from postel.pg.pool import SyncConn
from postel.pg.rows import Row
from postel.reportstore import AddResult, window_clauses

__all__ = [
    "Connections",
    "OneConnection",
    "PgReceivedReports",
    "PgReportStoreError",
    "add_duplicate",
    "col_int",
    "col_str",
    "count",
    "ident",
    "pg_window",
]

log = logging.getLogger("postel.pg")

T = TypeVar("T")


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


class PgReceivedReports(Generic[T]):
    """The shared received reports of one kind over *db* (a report table with
    an ident column, and a table of its duplicates); *T* is its stored-report
    type. :meth:`close` leaves the connections to whoever opened them."""

    # The report table, its duplicates' table, the columns _stored reads
    # (qualified with the alias "r"), and what a report is called in errors.
    table: ClassVar[str]
    duplicate_table: ClassVar[str]
    columns: ClassVar[str]
    what: ClassVar[str]

    def __init__(self, db: Connections, where: str = "PostgreSQL") -> None:
        self._db = db
        self.where = where

    def close(self) -> None:
        pass

    def _stored(self, row: Row, *, with_json: bool, duplicates: int = 0) -> T:
        raise NotImplementedError

    def _store(
        self,
        key: bytes,
        *,
        report_id: str,
        organization: str,
        columns: str,
        values: tuple[object, ...],
        copy: tuple[str, str, str, str],
        children: str,
        child_rows: Callable[[int], list[tuple[object, ...]]],
    ) -> AddResult:
        """Store a report as the row *values* of *columns* (all but ident) and
        the rows *child_rows* gives for its id into *children* (an INSERT), in
        one transaction; a report whose *key* is stored already (committed by
        another node, perhaps at the same moment) gets this *copy* (received,
        from_addr, to_rcpt, message_ref) recorded as its duplicate."""
        marks = ", ".join(["%s"] * (len(values) + 1))
        try:
            with self._db.connection() as conn, conn.transaction():
                row = conn.execute(
                    f"INSERT INTO {self.table} (ident, {columns}) VALUES ({marks})"
                    " ON CONFLICT (ident) DO NOTHING RETURNING id".encode(),
                    (key, *values),
                ).fetchone()
                if row is None:
                    return add_duplicate(conn, self.duplicate_table, self.table, key, *copy)
                rid = col_int(row[0])
                with conn.cursor() as cur:
                    cur.executemany(children.encode(), child_rows(rid))
        except psycopg.Error as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise PgReportStoreError(
                f"{self.where}: storing {self.what} {report_id[:80]!r}: {first[:200]}"
            ) from None
        log.debug("report stored", extra={"id": rid, "org": organization})
        return AddResult(rid)

    def get(self, report_id: int) -> T | None:
        """The stored report with its JSON and number of duplicates; None if unknown."""
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {self.columns}, r.data FROM {self.table} r WHERE r.id = %s".encode(),
                (report_id,),
            ).fetchone()
            if row is None:
                return None
            dups = conn.execute(
                f"SELECT count(*) FROM {self.duplicate_table} WHERE report = %s".encode(),
                (report_id,),
            ).fetchone()
        return self._stored(row, with_json=True, duplicates=0 if dups is None else col_int(dups[0]))

    def delete(self, report_id: int) -> bool:
        """Remove a report (its duplicates go with it); False when there was none."""
        with self._db.connection() as conn:
            cur = conn.execute(f"DELETE FROM {self.table} WHERE id = %s".encode(), (report_id,))
            return cur.rowcount > 0

    def count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, self.table)

    def duplicate_count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, self.duplicate_table)

    def _page(
        self, where: str, args: Sequence[object], order: str, limit: int, offset: int
    ) -> tuple[list[T], int]:
        """One page of reports (without their JSON) matching *where* in *order*,
        and how many match in all."""
        with self._db.connection() as conn:
            total = conn.execute(
                f"SELECT count(*) FROM {self.table} r{where}".encode(), args
            ).fetchone()
            rows = conn.execute(
                f"SELECT {self.columns} FROM {self.table} r{where}"
                f" ORDER BY {order} LIMIT %s OFFSET %s".encode(),
                [*args, limit, offset],
            ).fetchall()
        return (
            [self._stored(r, with_json=False) for r in rows],
            0 if total is None else col_int(total[0]),
        )
