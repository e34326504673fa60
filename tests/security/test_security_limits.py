"""Standard 5, every size and count from the network is bounded. Here: the SMTP
server's limits (line, message size, recipients, errors, AUTH failures, command
and session time, connections), the SMTP client's reply bounds, and HTTP request
bodies and heads of the web listeners. Bounds tested elsewhere are listed in
the audit report (DNS CNAME chains, MTA-STS body, report decompression)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import trustme
from security_env import ADMIN_PASSWORD, PASSWORD, Env, make_config, run
from starlette.testclient import TestClient

from postel.dns.mock import MockResolver
from postel.smtpclient.errors import ProtocolError
from postel.smtpclient.replies import MAX_LINE, MAX_LINES, read_reply
from postel.store.credentials import Credentials
from postel.store.store import Store
from postel.web import build_app, start_web
from postel.web.requestlimits import DEFAULT_MAX_BODY, MAX_FIELDS, MAX_HEAD
from postel.web.webmail.guard import MAX_UPLOAD

# -- SMTP server ---------------------------------------------------------------------------


class Wire:
    """A raw SMTP client: exact bytes out, reply codes in."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.file = self.sock.makefile("rb")

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return -1, b"".join(lines)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def cmd(self, data: bytes) -> tuple[int, bytes]:
        self.sock.sendall(data + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _session(env: Env) -> Wire:
    w = Wire(env.ports["smtp"])
    assert w.reply()[0] == 220
    assert w.cmd(b"EHLO client.test")[0] == 250
    return w


async def test_smtp_command_line_length(smtp_env: Env) -> None:
    limit = smtp_env.cfg.static.limits.max_line_length

    def go() -> list[int]:
        w = _session(smtp_env)
        out = [w.cmd(b"NOOP " + b"x" * (limit * 20))[0], w.cmd(b"NOOP")[0]]
        w.close()
        return out

    # The long line is consumed and refused; the session stays in step.
    assert await run(go) == [500, 250]


async def test_smtp_message_size_and_data_line_length(smtp_env: Env) -> None:
    limits = smtp_env.cfg.static.limits

    def go() -> list[int]:
        w = _session(smtp_env)
        out = [w.cmd(f"MAIL FROM:<a@sender.test> SIZE={limits.max_message_size + 1}".encode())[0]]
        for body in (
            b"Subject: big\r\n\r\n" + (b"y" * 500 + b"\r\n") * (limits.max_message_size // 500 + 5),
            b"Subject: long line\r\n\r\n" + b"z" * (limits.max_line_length + 10) + b"\r\n",
        ):
            out.append(w.cmd(b"MAIL FROM:<a@sender.test>")[0])
            out.append(w.cmd(b"RCPT TO:<alice@example.org>")[0])
            out.append(w.cmd(b"DATA")[0])
            out.append(w.cmd(body + b".")[0])
        w.close()
        return out

    assert await run(go) == [552, 250, 250, 354, 552, 250, 250, 354, 500]
    assert smtp_env.delivered("alice") == []


async def test_smtp_recipient_count(smtp_env: Env) -> None:
    n = smtp_env.cfg.static.limits.max_recipients

    def go() -> list[int]:
        w = _session(smtp_env)
        w.cmd(b"MAIL FROM:<a@sender.test>")
        out = [w.cmd(b"RCPT TO:<alice@example.org>")[0] for _ in range(n + 2)]
        w.close()
        return out

    assert await run(go) == [250] * n + [452, 452]


async def test_smtp_bad_commands_end_the_session(smtp_env: Env) -> None:
    def go() -> list[int]:
        w = _session(smtp_env)
        out = [w.cmd(b"BOGUS")[0] for _ in range(10)]
        out.append(w.reply()[0])  # the 421 after the tenth, then EOF
        out.append(w.reply()[0])
        w.close()
        return out

    codes = await run(go)
    assert codes[:9] == [500] * 9 and codes[9] == 500 and codes[10] == 421 and codes[11] == -1


async def test_smtp_auth_failures_end_the_session(smtp_env: Env) -> None:
    import base64
    import ssl

    def go() -> list[int]:
        raw = socket.create_connection(("127.0.0.1", smtp_env.ports["submissions"]), 10)
        tls = smtp_env.client_context().wrap_socket(raw, server_hostname="mail.example.org")
        w = Wire.__new__(Wire)
        w.sock, w.file = tls, tls.makefile("rb")
        assert w.reply()[0] == 220
        w.cmd(b"EHLO x")
        bad = base64.b64encode(b"\0alice\0wrong").decode()
        out = [w.cmd(f"AUTH PLAIN {bad}".encode())[0] for _ in range(3)]
        out.append(w.reply()[0])
        good = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
        try:
            out.append(w.cmd(f"AUTH PLAIN {good}".encode())[0])
        except (OSError, ssl.SSLError):
            out.append(-1)
        w.close()
        return out

    codes = await run(go)
    assert codes[:4] == [535, 535, 535, 421] and codes[4] == -1, codes


async def test_smtp_command_timeout(smtp_env: Env) -> None:
    smtp_env.cfg.static.limits.command_timeout = 0.5

    def go() -> list[int]:
        w = _session(smtp_env)
        out = [w.reply()[0], w.reply()[0]]  # nothing sent: 421, then EOF
        w.close()
        return out

    assert await run(go) == [421, -1]


async def test_smtp_session_time(smtp_env: Env) -> None:
    """A busy client (NOOP, NOOP, ...) is still cut off at connection_timeout."""
    smtp_env.cfg.static.limits.connection_timeout = 1.0

    def go() -> tuple[int, float]:
        import time

        start = time.monotonic()
        w = _session(smtp_env)
        while time.monotonic() - start < 5:
            code, _ = w.cmd(b"NOOP")
            if code != 250:
                w.close()
                return code, time.monotonic() - start
        w.close()
        return 0, 5.0

    code, took = await run(go)
    assert code == 421 and took < 3


async def test_smtp_connection_count(smtp_env: Env) -> None:
    smtp_env.cfg.static.limits.max_connections = 2

    def go() -> list[int]:
        a, b = _session(smtp_env), _session(smtp_env)
        c = Wire(smtp_env.ports["smtp"])
        out = [c.reply()[0]]
        for w in (a, b, c):
            w.close()
        return out

    assert await run(go) == [421]


# -- SMTP client -------------------------------------------------------------------------------


async def _reply_from(data: bytes) -> object:
    reader = asyncio.StreamReader(limit=MAX_LINE + 2)
    reader.feed_data(data)
    reader.feed_eof()
    return await read_reply(reader, 5, logging.getLogger("postel.smtpclient"))


async def test_smtp_client_reply_bounds() -> None:
    with pytest.raises(ProtocolError, match="lines"):
        await _reply_from(b"250-x\r\n" * (MAX_LINES + 5) + b"250 end\r\n")
    with pytest.raises(ProtocolError, match="longer"):
        await _reply_from(b"250 " + b"x" * (MAX_LINE * 4) + b"\r\n")
    ok = await _reply_from(b"250-x\r\n" * (MAX_LINES - 1) + b"250 end\r\n")
    assert getattr(ok, "code", None) == 250


# -- HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    cfg = make_config(tmp_path, trustme.CA())
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    store = Store(cfg.datadir)
    app = build_app(
        cfg, store, MockResolver({}), admin=True, webmail=True, mtasts=True, internal=True
    )
    try:
        with TestClient(app, base_url="https://testserver") as client:
            yield client
    finally:
        store.close()


def _chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    while total > 0:
        yield b"a" * min(size, total)
        total -= size


ADMIN_POSTS = [
    "/admin/login",
    "/admin/domains/add",
    "/admin/accounts/add",
    "/admin/logout",
    "/admin/queue/1/retry",
    "/admin/suppressions/add",
]
WEBMAIL_POSTS = ["/webmail/login", "/webmail/compose", "/webmail/msg/1/action"]


@pytest.mark.parametrize("path", [*ADMIN_POSTS, "/", "/.well-known/mta-sts.txt"])
def test_admin_and_other_bodies_are_bounded(web: TestClient, path: str) -> None:
    over = DEFAULT_MAX_BODY + 1
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = web.post(path, content=b"a=" + b"b" * over, headers=form)  # Content-Length
    assert r.status_code == 413, r.text
    r = web.post(path, content=b"a=b", headers={**form, "content-length": "99999999999999"})
    assert r.status_code == 413
    # Chunked, no length: cut off when read; refused unread without a session.
    r = web.post(path, content=_chunks(over), headers=form)
    assert r.status_code in (403, 404, 405, 413), r.text
    if path == "/admin/login":
        assert r.status_code == 413
    # Under the limit the request reaches the application (which refuses it for its
    # own reasons: no session, no CSRF token, wrong method).
    r = web.post(path, content=b"a=" + b"b" * (DEFAULT_MAX_BODY - 10), headers=form)
    assert r.status_code in (403, 404, 405), r.status_code


@pytest.mark.parametrize("path", ADMIN_POSTS[1:])
def test_logged_in_admin_chunked_bodies_are_cut_off(web: TestClient, path: str) -> None:
    token = _csrf(web, "/admin/login")
    r = web.post("/admin/login", data={"csrf": token, "password": ADMIN_PASSWORD})
    assert r.status_code == 200 and r.url.path == "/admin/"
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = web.post(path, content=_chunks(DEFAULT_MAX_BODY + 1), headers=form)
    assert r.status_code == 413


def _csrf(client: TestClient, page: str) -> str:
    import re

    m = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert m
    return m.group(1)


@pytest.mark.parametrize("path", WEBMAIL_POSTS)
def test_webmail_bodies_are_bounded(web: TestClient, path: str) -> None:
    limit = MAX_UPLOAD + 1024 * 1024
    form = {"content-type": "multipart/form-data; boundary=xyz"}
    r = web.post(path, content=b"x" * (limit + 1), headers=form)
    assert r.status_code == 413
    web.get("/webmail/login")
    r = web.post(path, content=_chunks(limit + 1), headers=form)
    assert r.status_code in (403, 413)
    if path == "/webmail/login":
        assert r.status_code == 413
    # Logged in, a chunked body over the limit is cut off on every form.
    token = _csrf(web, "/webmail/login")
    r = web.post(
        "/webmail/login", data={"csrf": token, "address": "alice@example.org", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    r = web.post(path, content=_chunks(limit + 1), headers=form)
    assert r.status_code == 413
    # An attachment-sized body below the limit is read by the application.
    r = web.post(path, content=_chunks(2 * DEFAULT_MAX_BODY), headers=form)
    assert r.status_code in (400, 403), r.status_code


def test_request_heads_are_bounded(web: TestClient) -> None:
    many = {f"x-h{i}": "v" for i in range(MAX_FIELDS + 1)}
    assert web.get("/admin/login", headers=many).status_code == 431
    assert web.get("/webmail/login", headers={"x-big": "a" * MAX_HEAD}).status_code == 431
    assert web.get("/admin/login", headers={"x-ok": "a" * 1000}).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_real_listener_bounds_body_and_head(tmp_path: Path) -> None:
    """Through uvicorn: a streamed (chunked) body is cut off at the limit, and the
    request head is bounded."""
    cfg = make_config(tmp_path, trustme.CA())
    web = cfg.static.listeners["local"].web
    web.enabled, web.tls, web.admin, web.webmail, web.port = True, False, True, True, _free_port()
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    sent = 0

    async def stream() -> object:
        nonlocal sent
        for chunk in _chunks(64 * 1024 * 1024):
            sent += len(chunk)
            yield chunk

    try:
        async with AsyncExitStack() as stack:
            await start_web(cfg, store, MockResolver({}), stack)
            base = f"http://127.0.0.1:{web.port}"
            async with httpx.AsyncClient(timeout=20) as client:
                try:
                    r = await client.post(
                        base + "/admin/login",
                        content=stream(),  # type: ignore[arg-type]
                        headers={"content-type": "application/x-www-form-urlencoded"},
                    )
                    assert r.status_code == 413
                except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
                    pass  # the server answered 413 and closed while we were still sending
                assert sent < 32 * 1024 * 1024  # the server did not take it all
                for size in (MAX_HEAD + 1, 64 * 1024, 1024 * 1024):
                    try:
                        r = await client.get(base + "/admin/login", headers={"x-big": "a" * size})
                        assert r.status_code in (400, 431), size
                    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                        pass  # h11 closed the connection on a head over its read bound
                r = await client.get(base + "/admin/login")
                assert r.status_code == 200
    finally:
        store.close()
