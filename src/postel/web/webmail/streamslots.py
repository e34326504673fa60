"""How many live event streams (webmail/events.py) may be open at once: per
session and per client address, so that open tabs cannot hold a listener's
connections or the feed's memory without bound."""

from __future__ import annotations

from collections import Counter

MAX_PER_SESSION = 4
MAX_PER_CLIENT = 16


class StreamSlots:
    def __init__(
        self, per_session: int = MAX_PER_SESSION, per_client: int = MAX_PER_CLIENT
    ) -> None:
        self.per_session = per_session
        self.per_client = per_client
        self._sessions: Counter[str] = Counter()
        self._clients: Counter[str] = Counter()

    def available(self, session: str, client: str) -> bool:
        return (
            self._sessions[session] < self.per_session and self._clients[client] < self.per_client
        )

    def acquire(self, session: str, client: str) -> bool:
        """Take a slot for a stream of *session* from *client*; False when full."""
        if not self.available(session, client):
            return False
        self._sessions[session] += 1
        self._clients[client] += 1
        return True

    def release(self, session: str, client: str) -> None:
        for counter, key in ((self._sessions, session), (self._clients, client)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    def open_streams(self) -> int:
        return sum(self._sessions.values())
