"""A deadline for the request head of every HTTP request (slow-client defence).

uvicorn closes idle keep-alive connections, but a client that opens a
connection and sends nothing, or trickles a request head that never ends,
is kept forever. This h11 protocol closes the connection when a request head
has not arrived within the deadline, measured from the connection's start or
from the first byte after the previous response.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("postel.web")

HEAD_TIMEOUT = 30.0


class HeadTimeoutH11Protocol(H11Protocol):
    head_timeout: float = HEAD_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            # Waiting for (the rest of) a request head.
            if self._head_timer is None:
                self._arm()
        else:
            self._disarm()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info(
                "http request head not received in time, closing",
                extra={
                    "client": self.client[0] if self.client else "",
                    "seconds": self.head_timeout,
                },
            )
            self.transport.close()


def protocol_with_head_timeout(seconds: float) -> type[HeadTimeoutH11Protocol]:
    """The protocol class for uvicorn.Config(http=...) with this deadline."""
    return type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"head_timeout": seconds})
