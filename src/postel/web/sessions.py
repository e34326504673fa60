"""Server-side sessions: random ids in a cookie, everything else in memory.

A session carries its CSRF token. Ids are 32 random bytes (base64url);
sessions expire when idle and after an absolute lifetime, and the store is
bounded so that anonymous visitors cannot fill memory.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ID_BYTES = 32
IDLE_SECONDS = 2 * 3600.0
MAX_AGE_SECONDS = 12 * 3600.0
MAX_SESSIONS = 10_000


def new_token() -> str:
    return secrets.token_urlsafe(ID_BYTES)


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    last_seen: float
    user: str = ""  # "" for an anonymous (login page) session
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return bool(self.user)


class SessionStore:
    """In-memory sessions; lost on restart (the admin logs in again)."""

    def __init__(
        self,
        *,
        idle: float = IDLE_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle = idle
        self.max_age = max_age
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, s: Session, now: float) -> bool:
        return now - s.last_seen > self.idle or now - s.created > self.max_age

    def _make_room(self, now: float) -> None:
        if len(self._sessions) < self.max_sessions:
            return
        for sid in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[sid]
        if len(self._sessions) < self.max_sessions:
            return
        # Anonymous sessions go first, oldest first; then the oldest of all.
        order = sorted(self._sessions.values(), key=lambda s: (s.authenticated, s.last_seen))
        for s in order[: len(self._sessions) - self.max_sessions + 1]:
            del self._sessions[s.id]

    def new(self, user: str = "") -> Session:
        now = self.clock()
        self._make_room(now)
        s = Session(id=new_token(), csrf=new_token(), created=now, last_seen=now, user=user)
        self._sessions[s.id] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session with id *sid* (touched), or None."""
        if not sid:
            return None
        s = self._sessions.get(sid)
        if s is None:
            return None
        now = self.clock()
        if self._expired(s, now):
            del self._sessions[sid]
            return None
        s.last_seen = now
        return s

    def login(self, old: Session | None, user: str) -> Session:
        """A fresh session (new id and CSRF token) for *user*; the old id stops working
        so that an id planted before login is useless (session fixation)."""
        if old is not None:
            self._sessions.pop(old.id, None)
        return self.new(user)

    def delete(self, sid: str) -> None:
        self._sessions.pop(sid, None)
