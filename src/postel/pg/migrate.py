"""Forward migrations of the PostgreSQL store (as postel.db does for SQLite).

The version lives in a one-row table ``schema_version``. Each pending step runs
in its own transaction together with the version update, under a transaction
advisory lock, so nodes starting at once migrate once: the others wait for the
lock and find the step done. A schema newer than this program is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg

from postel.pg.errors import PgMigrationFailed, PgSchemaTooNew
from postel.pg.rows import col_int
from postel.pg.schema import MIGRATIONS

log = logging.getLogger("postel.pg")

# pg_advisory_xact_lock key of the migrations ("postel" + 1 as a number).
MIGRATION_LOCK = 0x706F7374656C01
# pg_try_advisory_lock keys of the daily outgoing reports, one per kind, held
# by the one node sending that kind's reports for the length of its run
# (postel.pg.dailyrun; "postel" + 2 and + 3).
TLS_REPORT_LOCK = 0x706F7374656C02
DMARC_REPORT_LOCK = 0x706F7374656C03
# pg_try_advisory_lock key held by the node ordering certificates, so that
# one node at a time talks to the ACME CA (postel.pg.acmestore).
ACME_ORDER_LOCK = 0x706F7374656C04
# pg_advisory_xact_lock key of a login attempt's count and reservation
# (postel.pg.loginlimits): the nodes' attempts are counted one at a time.
LOGIN_LIMIT_LOCK = 0x706F7374656C05
# pg_try_advisory_lock key held by the node sending the day's digest of
# received reports' findings (postel.pg.dailyrun, kind "digest").
DIGEST_LOCK = 0x706F7374656C06
# pg_try_advisory_lock key held by the node sweeping the object store of
# objects no body row names (postel.pg.objectsweep): one node at a time.
OBJECT_SWEEP_LOCK = 0x706F7374656C07
# pg_try_advisory_lock key held by the node sweeping body rows no message
# names (postel.pg.bodysweep): one node at a time.
BODY_SWEEP_LOCK = 0x706F7374656C08

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version integer NOT NULL
)
"""


async def schema_version(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
    """The schema version of the connected database; 0 when it has none."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if row is None or not row[0]:
        return 0
    cur = await conn.execute("SELECT version FROM schema_version")
    row = await cur.fetchone()
    return col_int(row[0]) if row is not None else 0


async def migrate(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
    *,
    where: str,
    migrations: Sequence[str] = MIGRATIONS,
) -> int:
    """Run every pending migration forward; returns the version reached.

    *conn* must not be inside a transaction; *where* names the database in
    messages (postel.pg.settings.describe)."""
    target = len(migrations)
    version = await schema_version(conn)
    if version > target:
        raise PgSchemaTooNew(
            f"{where}: schema version {version} is newer than this program knows ({target})"
        )
    while version < target:
        step = version + 1
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                await conn.execute(_VERSION_TABLE)
                # Re-read under the lock: another node may have migrated.
                version = await schema_version(conn)
                if version >= step:
                    continue
                await conn.execute(migrations[step - 1].encode())
                await conn.execute(
                    "INSERT INTO schema_version (version) VALUES (%s) "
                    "ON CONFLICT (one) DO UPDATE SET version = excluded.version",
                    (step,),
                )
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PgMigrationFailed(
                f"{where}: migration to version {step} failed: {first}"
            ) from exc
        log.info("schema migrated", extra={"db": where, "version": step})
        version = step
    return version
