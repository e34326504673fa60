"""The HTTP-01 responder (RFC 8555 §8.3)."""

from __future__ import annotations

import asyncio

from postel.acme.challenges import Challenges
from postel.acme.http01 import HTTP01Server, answer


def test_answer() -> None:
    ch = Challenges()
    ch.add_http("tok", "tok.thumb")
    assert answer(b"GET /.well-known/acme-challenge/tok HTTP/1.1", ch).endswith(
        b"\r\n\r\ntok.thumb"
    )
    assert answer(b"GET /.well-known/acme-challenge/other HTTP/1.1", ch).startswith(b"HTTP/1.1 404")
    assert answer(b"GET / HTTP/1.1", ch).startswith(b"HTTP/1.1 404")
    assert answer(b"POST /.well-known/acme-challenge/tok HTTP/1.1", ch).startswith(b"HTTP/1.1 400")
    ch.remove_http("tok")
    assert answer(b"GET /.well-known/acme-challenge/tok HTTP/1.1", ch).startswith(b"HTTP/1.1 404")


async def test_server_on_loopback() -> None:
    ch = Challenges()
    ch.add_http("abc", "abc.def")
    server = HTTP01Server(ch)
    await server.start(["127.0.0.1"], 0)
    try:
        port = server.bound[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"abc.def")
    finally:
        await server.stop()
