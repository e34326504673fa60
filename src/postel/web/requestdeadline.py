"""When an HTTP request is too slow (pure logic; the protocol in webprotocol.py
keeps the time and closes the connection).

A request starts with the connection or with its first byte after the previous
response. Its head must be complete within ``head`` seconds; its body must keep
up with ``min_body_rate`` bytes per second on average, allowing ``body``
seconds of lag (as Apache's mod_reqtimeout ``body=..,MinRate=..``); the whole
request must be in within ``request`` seconds. RFC 9110 §15.5.9 (408) lets a
server close a connection whose request does not arrive in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadlines:
    head: float = 30.0
    body: float = 20.0
    min_body_rate: float = 1024.0  # bytes per second; 0: no minimum
    request: float = 600.0


class RequestClock:
    """The deadlines of one request as it arrives."""

    def __init__(self, limits: Deadlines, start: float) -> None:
        self.limits = limits
        self.start = start
        self.head_at: float | None = None
        self.body_from = start  # when the body's rate is measured from
        self.body_bytes = 0

    def head_received(self, now: float) -> None:
        self.head_at = self.body_from = now

    def body_received(self, n: int) -> None:
        self.body_bytes += n

    def restart_rate(self, now: float) -> None:
        """Measure the body's rate afresh from *now* (the server had stopped reading:
        the lag since is not the client's)."""
        self.body_from = now
        self.body_bytes = 0

    def due(self) -> float:
        """The time at which the request is late unless more of it arrives first."""
        whole = self.start + self.limits.request
        if self.head_at is None:
            return min(self.start + self.limits.head, whole)
        if self.limits.min_body_rate <= 0:
            return whole
        by_rate = self.body_from + self.limits.body + self.body_bytes / self.limits.min_body_rate
        return min(by_rate, whole)

    def late(self, now: float) -> str | None:
        """Why the request is late at *now* ("head", "body rate", "request"), or None."""
        if now >= self.start + self.limits.request:
            return "request"
        if now < self.due():
            return None
        return "head" if self.head_at is None else "body rate"

    def elapsed(self, now: float) -> float:
        return math.floor((now - self.start) * 10) / 10
