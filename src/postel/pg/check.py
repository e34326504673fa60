"""`postel config test` for the PostgreSQL store: can this node connect, and is
the schema one this program can use? One line of outcome, never a secret."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from postel.pg.errors import PgConnectError, PgError, PgMigrationFailed
from postel.pg.migrate import schema_version
from postel.pg.pool import connect
from postel.pg.schema import MIGRATIONS
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")


@dataclass(frozen=True)
class StoreCheck:
    """*problem*: the server could not use the database as it is."""

    problem: bool
    text: str


async def check_store(settings: PgSettings) -> StoreCheck:
    where = f"[storage] PostgreSQL {settings.where}"
    try:
        conn = await connect(settings)
    except PgError as exc:
        return StoreCheck(True, f"[storage] cannot connect: {exc}")
    try:
        version = await schema_version(conn)
    except PgError as exc:
        return StoreCheck(True, f"{where}: cannot read the schema version: {exc}")
    except Exception as exc:  # psycopg.Error: a permission problem, a lost connection
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreCheck(True, f"{where}: cannot read the schema version: {first}")
    finally:
        await conn.close()
    target = len(MIGRATIONS)
    if version == 0:
        return StoreCheck(
            True,
            f"{where}: no postel schema (version 0, this program needs {target}); "
            "create it with `postel config migrate-db`",
        )
    if version > target:
        return StoreCheck(
            True, f"{where}: schema version {version} is newer than this program knows ({target})"
        )
    if version < target:
        return StoreCheck(
            True,
            f"{where}: schema version {version}, this program needs {target}; "
            "migrate it with `postel config migrate-db`",
        )
    return StoreCheck(False, f"{where}: connected, schema version {version}")


async def migrate_at_start(settings: PgSettings) -> int:
    """`postel serve`: run the pending migrations (each logged by
    postel.pg.migrate) and return the version reached. PgError of one line
    when the database cannot be reached, a step fails, or its schema is newer
    than this program (an older node on a database a newer one migrated)."""
    import psycopg

    from postel.pg.migrate import migrate

    try:
        conn = await connect(settings)
    except PgError as exc:
        raise PgConnectError(f"[storage] cannot connect: {exc}") from None
    where = f"[storage] PostgreSQL {settings.where}"
    try:
        before = await schema_version(conn)
        after = await migrate(conn, where=where)
    except psycopg.Error as exc:  # reading the version: a permission problem, a lost connection
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PgMigrationFailed(f"{where}: cannot read the schema version: {first}") from None
    finally:
        await conn.close()
    if after != before:
        log.info(
            "schema migrated at start",
            extra={"db": settings.where, "from_version": before, "to_version": after},
        )
    return after


async def migrate_store(settings: PgSettings) -> tuple[int, int]:
    """Run the pending migrations; (version before, version after)."""
    from postel.pg.migrate import migrate

    conn = await connect(settings)
    try:
        before = await schema_version(conn)
        after = await migrate(conn, where=f"PostgreSQL {settings.where}")
    finally:
        await conn.close()
    return before, after
