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


async def test_server_on_a_socket_bound_before() -> None:
    """A root start binds port 80 before it switches user (postel.privdrop)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    ch = Challenges()
    ch.add_http("t1", "t1.k")
    server = HTTP01Server(ch)
    await server.start(["127.0.0.1"], 80, {"127.0.0.1": sock})  # 80 is not bound
    try:
        port = sock.getsockname()[1]
        assert server.bound == [("127.0.0.1", port)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /.well-known/acme-challenge/t1 HTTP/1.1\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.endswith(b"t1.k")
    finally:
        await server.stop()


def test_preflight_binds_the_http01_port(tmp_path: object) -> None:
    from pathlib import Path

    from postel.config import load_config
    from postel.preflight.check import endpoints

    assert isinstance(tmp_path, Path)
    (tmp_path / "postel.toml").write_text(
        'hostname = "mail.example.org"\npostmaster_account = "pm"\n'
        '[listeners.a]\nips = ["127.0.0.1", "::1"]\n'
        "web = { enabled = true, port = 443 }\n"
        '[listeners.b]\nips = ["127.0.0.1"]\nsmtp = { enabled = false }\n'
        "submission = { enabled = false }\nsubmissions = { enabled = false }\n"
        '[acme]\nenabled = true\nchallenge = "http-01"\nhttp01_port = 80\n'
    )
    (tmp_path / "domains.toml").write_text(
        '[domains."example.org"]\n[accounts.pm]\ndomain = "example.org"\n'
        'addresses = ["pm@example.org"]\n'
    )
    eps = [e for e in endpoints(load_config(tmp_path).static) if e.kind == "http01"]
    assert [(e.listener, e.ip, e.port) for e in eps] == [
        ("acme", "127.0.0.1", 80),
        ("acme", "::1", 80),
    ]
