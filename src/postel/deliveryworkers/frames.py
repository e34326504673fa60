"""Length-prefixed frames over a pipe: a 4-byte big-endian length, then the
JSON of postel.deliveryworkers.codec. Both ends refuse a frame longer than
MAX_FRAME, so neither side buffers without bound."""

from __future__ import annotations

import asyncio
import struct

from postel.deliveryworkers.errors import FrameTooLarge

# A request names its message by path and holds its recipients; an outcome one
# line per recipient and the TLS results: far below this even for the
# largest recipient lists the queue groups.
MAX_FRAME = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


def pack(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise FrameTooLarge(
            f"delivery worker frame of {len(payload)} bytes is over {MAX_FRAME}",
            limit="frame size",
            value=MAX_FRAME,
        )
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's payload; None at a clean end of the stream (between frames).

    asyncio.IncompleteReadError: the stream ended inside a frame.
    """
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise FrameTooLarge(
            f"delivery worker frame of {length} bytes announced, over {MAX_FRAME}",
            limit="frame size",
            value=MAX_FRAME,
        )
    return await reader.readexactly(length)
