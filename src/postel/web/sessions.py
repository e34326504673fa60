"""Server-side sessions: random ids in a cookie, everything else in memory
(on the PostgreSQL store: in its database, shared by the nodes, see
postel.pg.websessions).

A session carries its CSRF token. Ids are 32 random bytes (base64url);
sessions expire when idle and after an absolute lifetime.

Memory is bounded with separate budgets, so that visitors who are not logged
in can never push out a logged-in user's session nor another visitor's login
form (whose CSRF token lives in an anonymous session):

- logged-in sessions: at most MAX_SESSIONS, and MAX_PER_USER per user;
- anonymous (login form) sessions: at most MAX_ANONYMOUS, and
  MAX_ANONYMOUS_PER_CLIENT per client (an IPv4 address or an IPv6 /64).

When a budget is full the least recently used session of that budget goes
(the client's or user's own first). Each pool keeps its sessions in order of
use, so finding that session is O(1), never a sort of the store.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ID_BYTES = 32
IDLE_SECONDS = 2 * 3600.0
MAX_AGE_SECONDS = 12 * 3600.0
MAX_SESSIONS = 10_000
MAX_PER_USER = 100
MAX_ANONYMOUS = 10_000
MAX_ANONYMOUS_PER_CLIENT = 50


def new_token() -> str:
    return secrets.token_urlsafe(ID_BYTES)


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    last_seen: float
    user: str = ""  # "" for an anonymous (login page) session
    client: str = ""  # the client an anonymous session was made for
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return bool(self.user)

    @property
    def owner(self) -> str:
        """What the per-owner budget counts: the user, or for an anonymous
        session its client."""
        return self.user or self.client


class _Pool:
    """Sessions in order of last use, at most *limit* in all and *per_owner* per
    owner; adding to a full pool drops the owner's least recently used session,
    else the pool's."""

    def __init__(self, limit: int, per_owner: int) -> None:
        self.limit = limit
        self.per_owner = per_owner
        self._all: OrderedDict[str, Session] = OrderedDict()
        self._owned: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def get(self, sid: str) -> Session | None:
        return self._all.get(sid)

    def oldest(self) -> Session | None:
        return next(iter(self._all.values()), None)

    def touch(self, s: Session) -> None:
        self._all.move_to_end(s.id)
        self._owned[s.owner].move_to_end(s.id)

    def remove(self, sid: str) -> Session | None:
        s = self._all.pop(sid, None)
        if s is not None:
            owned = self._owned[s.owner]
            del owned[sid]
            if not owned:
                del self._owned[s.owner]
        return s

    def add(self, s: Session) -> None:
        owned = self._owned.get(s.owner)
        if owned is not None and len(owned) >= self.per_owner:
            self.remove(next(iter(owned)))
        if len(self._all) >= self.limit:
            oldest = self.oldest()
            assert oldest is not None
            self.remove(oldest.id)
        self._all[s.id] = s
        self._owned.setdefault(s.owner, OrderedDict())[s.id] = None


class SessionStore:
    """In-memory sessions; lost on restart (the admin logs in again)."""

    def __init__(
        self,
        *,
        idle: float = IDLE_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        max_per_user: int = MAX_PER_USER,
        max_anonymous: int = MAX_ANONYMOUS,
        max_anonymous_per_client: int = MAX_ANONYMOUS_PER_CLIENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle = idle
        self.max_age = max_age
        self.clock = clock
        self._users = _Pool(max_sessions, max_per_user)
        self._anonymous = _Pool(max_anonymous, max_anonymous_per_client)

    def __len__(self) -> int:
        return len(self._users) + len(self._anonymous)

    @property
    def anonymous(self) -> int:
        """Number of anonymous (login form) sessions held."""
        return len(self._anonymous)

    def _pool(self, s: Session) -> _Pool:
        return self._users if s.authenticated else self._anonymous

    def _expired(self, s: Session, now: float) -> bool:
        return now - s.last_seen > self.idle or now - s.created > self.max_age

    def _drop_idle(self, pool: _Pool, now: float) -> None:
        """Remove the sessions idle too long: they are at the front of the pool."""
        while (s := pool.oldest()) is not None and now - s.last_seen > self.idle:
            pool.remove(s.id)

    def new(self, user: str = "", client: str = "") -> Session:
        """A new session for *user*, or an anonymous one (login form) for *client*."""
        now = self.clock()
        s = Session(
            id=new_token(),
            csrf=new_token(),
            created=now,
            last_seen=now,
            user=user,
            client="" if user else client,
        )
        pool = self._pool(s)
        self._drop_idle(pool, now)
        pool.add(s)
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session with id *sid* (touched), or None."""
        if not sid:
            return None
        s = self._users.get(sid) or self._anonymous.get(sid)
        if s is None:
            return None
        now = self.clock()
        pool = self._pool(s)
        if self._expired(s, now):
            pool.remove(sid)
            return None
        s.last_seen = now
        pool.touch(s)
        return s

    def alive(self, sid: str) -> bool:
        """Whether session *sid* is still valid, without counting this as a use
        (a page's open event stream must not keep its session alive)."""
        s = self._users.get(sid) or self._anonymous.get(sid)
        return s is not None and not self._expired(s, self.clock())

    def login(self, old: Session | None, user: str) -> Session:
        """A fresh session (new id and CSRF token) for *user*; the old id stops working
        so that an id planted before login is useless (session fixation)."""
        if old is not None:
            self.delete(old.id)
        return self.new(user)

    def delete(self, sid: str) -> None:
        if self._users.remove(sid) is None:
            self._anonymous.remove(sid)

    # -- what the web apps call: awaitable, so that a store shared by several
    # nodes (postel.pg.websessions) can ask its database. Here: the above.

    async def aget(self, sid: str | None) -> Session | None:
        return self.get(sid)

    async def anew(self, user: str = "", client: str = "") -> Session:
        return self.new(user, client)

    async def alogin(
        self, old: Session | None, user: str, data: dict[str, str] | None = None
    ) -> Session:
        """:meth:`login`, the new session carrying *data*."""
        s = self.login(old, user)
        s.data.update(data or {})
        return s

    async def adelete(self, sid: str) -> None:
        self.delete(sid)

    async def aalive(self, sid: str) -> bool:
        return self.alive(sid)
