"""A transport stand-in for unit tests of Conn's buffer logic (no socket)."""

from __future__ import annotations

import asyncio
from typing import Any

from postel.smtpserver.conn import Conn

LIMIT = 64


class FakeTransport(asyncio.Transport):
    """Records pause/resume (unit tests of the buffer logic only)."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.closing = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closing = True


def new_conn(limit: int = LIMIT, high_water: int = 0) -> tuple[Conn, FakeTransport]:
    conn = Conn(limit, lambda c: None, high_water)
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport


def fed_conn(data: bytes, limit: int = LIMIT) -> Conn:
    """A Conn that has received *data* and then EOF."""
    conn, _ = new_conn(limit)
    conn.data_received(data)
    conn.eof_received()
    return conn


async def read_rest(conn: Conn) -> bytes:
    """Everything *conn* still holds (up to EOF)."""
    rest = b""
    while piece := await conn.read(65536):
        rest += piece
    return rest
