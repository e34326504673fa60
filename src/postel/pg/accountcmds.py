"""`postel account` on the PostgreSQL store: each command opens a small pool,
does its work in the database all nodes share, and closes it. The nodes read
passwords from the database at each login, so a change applies to all of
them at once; domains.toml stays each node's file."""

from __future__ import annotations

from dataclasses import replace

from postel.pg.accountstore import PgStore
from postel.pg.credentials import PgCredentials
from postel.pg.pool import open_pool
from postel.pg.settings import PgSettings


def _small(settings: PgSettings) -> PgSettings:
    return replace(settings, pool_min=1, pool_max=2)


async def add_account(settings: PgSettings, name: str, password: str) -> None:
    """Make account *name* with its default mailboxes (nothing when it exists)
    and set its password."""
    pool = await open_pool(_small(settings))
    try:
        await PgStore(pool).create_account(name)
        await PgCredentials(pool).set_password(name, password)
    finally:
        await pool.close()


async def set_password(settings: PgSettings, name: str, password: str) -> None:
    pool = await open_pool(_small(settings))
    try:
        await PgCredentials(pool).set_password(name, password)
    finally:
        await pool.close()


async def with_password(settings: PgSettings) -> list[str]:
    """The accounts that have a password."""
    pool = await open_pool(_small(settings))
    try:
        return await PgCredentials(pool).accounts()
    finally:
        await pool.close()


async def remove_password(settings: PgSettings, name: str) -> bool:
    """Forget the account's password (its mail stays); True if there was one."""
    pool = await open_pool(_small(settings))
    try:
        return await PgCredentials(pool).remove(name)
    finally:
        await pool.close()
