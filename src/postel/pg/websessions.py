"""Web sessions in PostgreSQL, so that every node knows them: a browser that a
load balancer sends to another node stays logged in, and the CSRF token of a
form made by one node is checked by the node that gets the POST. A logout on
one node ends the session on all.

The rules are those of postel.web.sessions (idle and absolute lifetimes, the
budgets per user and per client, the oldest session going first); the
database keeps the SHA-256 of each id, never the id itself. *scope* keeps the
admin's and the webmail's sessions apart (a webmail session never passes as
an admin session). The web apps call the awaitable methods (aget, anew,
alogin, adelete, aalive) on the event loop that owns the pool.
"""

from __future__ import annotations

import hashlib

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from postel.pg.errors import PgError
from postel.pg.pool import Conn
from postel.web.sessions import (
    IDLE_SECONDS,
    MAX_AGE_SECONDS,
    MAX_ANONYMOUS,
    MAX_ANONYMOUS_PER_CLIENT,
    MAX_PER_USER,
    MAX_SESSIONS,
    Session,
    SessionStore,
    new_token,
)

TOUCH_EVERY = 60.0  # seconds: last_seen is written at most this often per session


class PgSessionsBlocking(PgError):
    """A blocking SessionStore method called on the shared store (the web apps
    use the awaitable ones)."""


def _hash(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


class PgSessionStore(SessionStore):
    """The sessions of one *scope* ("admin", "webmail") in PostgreSQL."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        scope: str,
        *,
        idle: float = IDLE_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        max_per_user: int = MAX_PER_USER,
        max_anonymous: int = MAX_ANONYMOUS,
        max_anonymous_per_client: int = MAX_ANONYMOUS_PER_CLIENT,
    ) -> None:
        super().__init__(idle=idle, max_age=max_age)
        self.pool = pool
        self.scope = scope
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self.max_anonymous = max_anonymous
        self.max_anonymous_per_client = max_anonymous_per_client

    # The in-memory methods: what they keep the other nodes would not see.
    def _blocking(self) -> PgSessionsBlocking:
        return PgSessionsBlocking(
            f"web sessions ({self.scope}) in PostgreSQL: use the awaitable methods"
        )

    def get(self, sid: str | None) -> Session | None:
        raise self._blocking()

    def new(self, user: str = "", client: str = "") -> Session:
        raise self._blocking()

    def login(self, old: Session | None, user: str) -> Session:
        raise self._blocking()

    def delete(self, sid: str) -> None:
        raise self._blocking()

    def alive(self, sid: str) -> bool:
        raise self._blocking()

    async def _row(self, conn: Conn, sid: str) -> tuple[object, ...] | None:
        cur = await conn.execute(
            "SELECT csrf, user_name, client, data, extract(epoch FROM created)::float8, "
            "extract(epoch FROM last_seen)::float8, "
            "now() - last_seen > make_interval(secs => %s) "
            "OR now() - created > make_interval(secs => %s), "
            "now() - last_seen > make_interval(secs => %s) "
            "FROM web_session WHERE id_hash = %s AND scope = %s",
            (self.idle, self.max_age, TOUCH_EVERY, _hash(sid), self.scope),
        )
        return await cur.fetchone()

    async def aget(self, sid: str | None) -> Session | None:
        """The live session *sid* (its use recorded), or None."""
        if not sid:
            return None
        async with self.pool.connection() as conn:
            row = await self._row(conn, sid)
            if row is None:
                return None
            if row[6]:  # expired
                await conn.execute("DELETE FROM web_session WHERE id_hash = %s", (_hash(sid),))
                return None
            if row[7]:
                await conn.execute(
                    "UPDATE web_session SET last_seen = now() WHERE id_hash = %s", (_hash(sid),)
                )
        data = row[3] if isinstance(row[3], dict) else {}
        return Session(
            id=sid,
            csrf=str(row[0]),
            created=float(str(row[4])),
            last_seen=float(str(row[5])),
            user=str(row[1]),
            client=str(row[2]),
            data=dict(data),
        )

    async def aalive(self, sid: str) -> bool:
        """Whether *sid* is valid, without counting this as a use."""
        async with self.pool.connection() as conn:
            row = await self._row(conn, sid)
        return row is not None and not row[6]

    async def anew(
        self, user: str = "", client: str = "", data: dict[str, str] | None = None
    ) -> Session:
        """A new session for *user*, or an anonymous one for *client*; the
        budgets of postel.web.sessions are kept by dropping the oldest."""
        sid, csrf = new_token(), new_token()
        client = "" if user else client
        anonymous = not user
        per_owner = self.max_anonymous_per_client if anonymous else self.max_per_user
        limit = self.max_anonymous if anonymous else self.max_sessions
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM web_session WHERE scope = %s "
                "AND last_seen < now() - make_interval(secs => %s)",
                (self.scope, self.idle),
            )
            await conn.execute(
                "DELETE FROM web_session WHERE id_hash IN (SELECT id_hash FROM web_session "
                "WHERE scope = %s AND user_name = %s AND client = %s "
                "ORDER BY last_seen DESC OFFSET %s)",
                (self.scope, user, client, per_owner - 1),
            )
            await conn.execute(
                "DELETE FROM web_session WHERE id_hash IN (SELECT id_hash FROM web_session "
                "WHERE scope = %s AND (user_name = '') = %s ORDER BY last_seen DESC OFFSET %s)",
                (self.scope, anonymous, limit - 1),
            )
            cur = await conn.execute(
                "INSERT INTO web_session (id_hash, scope, csrf, user_name, client, data) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "RETURNING extract(epoch FROM created)::float8",
                (_hash(sid), self.scope, csrf, user, client, Jsonb(data or {})),
            )
            row = await cur.fetchone()
        now = float(str(row[0])) if row is not None else 0.0
        return Session(sid, csrf, now, now, user=user, client=client, data=dict(data or {}))

    async def alogin(
        self, old: Session | None, user: str, data: dict[str, str] | None = None
    ) -> Session:
        """A fresh session (new id and CSRF token) for *user*; the old id stops
        working on every node (session fixation)."""
        if old is not None:
            await self.adelete(old.id)
        return await self.anew(user, data=data)

    async def adelete(self, sid: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM web_session WHERE id_hash = %s AND scope = %s",
                (_hash(sid), self.scope),
            )
