"""Asking rspamd about a message: one ``POST /checkv2`` to its normal worker
over HTTP/1.1 (h11 on asyncio streams, a new connection per message).

Bounded: the whole exchange gets *timeout* seconds and the answer at most
MAX_ANSWER bytes. Whatever goes wrong (no connection, a timeout, an HTTP
error, an answer that is not rspamd's JSON) is logged and means "no
verdict": the message is filed by postel's own signals, never refused or
delayed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import h11

import postel
from postel.junk.errors import RspamdError
from postel.junk.rspamdproto import (
    CHECK_PATH,
    Answer,
    Endpoint,
    Envelope,
    parse_answer,
    request_fields,
)

log = logging.getLogger("postel.junk")

TIMEOUT = 10.0  # rspamd's own task_timeout is 8 s: it answers with what it has by then
MAX_ANSWER = 1024 * 1024  # bytes of answer body; a normal one is a few KiB
_READ = 64 * 1024


async def _exchange(endpoint: Endpoint, message: bytes, env: Envelope, where: str) -> bytes:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=16 * 1024)
    headers = [
        ("Host", endpoint.hostport),
        ("User-Agent", f"postel/{postel.__version__}"),
        ("Content-Length", str(len(message))),
        ("Connection", "close"),
        *request_fields(env),
    ]
    request = conn.send(h11.Request(method="POST", target=CHECK_PATH, headers=headers))
    request += conn.send(h11.Data(data=message))
    request += conn.send(h11.EndOfMessage())
    reader, writer = await asyncio.open_connection(endpoint.ip, endpoint.port, limit=_READ)
    try:
        writer.write(request)
        await writer.drain()
        status = 0
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(_READ))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_ANSWER:
                    raise RspamdError(f"answer larger than {MAX_ANSWER} bytes", where=where)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if status != 200:
            head = bytes(body[:200]).decode("utf-8", "replace")
            raise RspamdError(f"HTTP status {status}: {head!r}", where=where)
        return bytes(body)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1)


async def check(
    endpoint: Endpoint, message: bytes, env: Envelope, timeout: float = TIMEOUT
) -> Answer | None:
    """rspamd's verdict on *message*, None when there is none (logged)."""
    where = f"rspamd at http://{endpoint.hostport}"
    try:
        async with asyncio.timeout(timeout):
            body = await _exchange(endpoint, message, env, where)
        answer = parse_answer(body, where)
    except TimeoutError:
        log.warning("rspamd gave no answer", extra={"where": where, "timeout": timeout})
        return None
    except RspamdError as e:
        log.warning("rspamd answer not usable", extra={"err": str(e)})
        return None
    except (OSError, h11.ProtocolError) as e:
        log.warning("rspamd not reachable", extra={"where": where, "err": str(e) or repr(e)})
        return None
    log.debug(
        "rspamd verdict",
        extra={"action": answer.action, "score": answer.score, "queue_id": env.queue_id},
    )
    return answer
