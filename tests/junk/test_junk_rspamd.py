"""The rspamd client (postel.junk.rspamd) against a small fake rspamd on
loopback: the request it sends, and that every kind of failure (no answer in
time, a huge or invalid answer, an HTTP error, a closed connection) is "no
verdict", within the time bound."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from postel.dns.answer import Answer as DNSAnswer
from postel.dns.mock import MockResolver
from postel.junk import rspamd
from postel.junk.errors import RspamdError
from postel.junk.filter import JunkFilter, Settings
from postel.junk.reputation import Verified
from postel.junk.rspamdproto import (
    Answer,
    Endpoint,
    Envelope,
    header_field,
    parse_answer,
    parse_url,
    request_fields,
)

MESSAGE = b"From: a@sender.test\r\nSubject: hello\r\n\r\nSee you tomorrow.\r\n"
ENV = Envelope(
    ip="127.0.0.9",
    helo="client.sender.test",
    hostname="client.sender.test",
    mail_from="a@sender.test",
    rcpts=("alice@example.org", "bob@example.org"),
    queue_id="abc123",
    mta_name="mail.example.org",
)
GOOD = {
    "is_skipped": False,
    "score": 7.5,
    "required_score": 15.0,
    "action": "add header",
    "symbols": {
        "R_SPF_FAIL": {"name": "R_SPF_FAIL", "score": 1.0},
        "BAYES_SPAM": {"name": "BAYES_SPAM", "score": 5.1},
        "ONE\r\nBAD": {"name": "x", "score": 9.0},
    },
}

Writer = asyncio.StreamWriter


@dataclass
class Fake:
    """rspamd's normal worker, answering with *respond*; keeps what it was sent."""

    respond: Callable[[Writer], Awaitable[None]]
    requests: list[tuple[bytes, dict[str, list[str]], bytes]] = field(default_factory=list)
    endpoint: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 0))
    sent: int = 0  # answer bytes written (for the size bound)

    async def handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers: dict[str, list[str]] = {}
            for line in lines[1:]:
                if line:
                    k, v = line.split(":", 1)
                    headers.setdefault(k.lower(), []).append(v.strip())
            body = await reader.readexactly(int(headers["content-length"][0]))
            self.requests.append((lines[0].encode(), headers, body))
            await self.respond(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def fake() -> AsyncIterator[Callable[..., Awaitable[Fake]]]:
    """Starts fake rspamds on loopback, stopped at the end of the test."""
    servers: list[asyncio.Server] = []

    async def make(respond: Callable[[Writer], Awaitable[None]]) -> Fake:
        f = Fake(respond)
        server = await asyncio.start_server(f.handle, "127.0.0.1", 0)
        servers.append(server)
        f.endpoint = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
        return f

    yield make
    for s in servers:
        s.close()
        await s.wait_closed()


def errors(caplog: pytest.LogCaptureFixture) -> str:
    """The errors logged (an extra of the records)."""
    return " ".join(str(getattr(r, "err", "")) for r in caplog.records)


def answer(body: bytes, status: str = "200 OK") -> Callable[[Writer], Awaitable[None]]:
    async def respond(w: Writer) -> None:
        w.write(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await w.drain()

    return respond


async def test_request_and_answer(fake: Callable[..., Awaitable[Fake]]) -> None:
    f = await fake(answer(json.dumps(GOOD).encode()))
    got = await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=5)
    assert got == Answer("add header", 7.5, 15.0, ("BAYES_SPAM", "R_SPF_FAIL"))
    [(line, headers, body)] = f.requests
    assert line == b"POST /checkv2 HTTP/1.1"
    assert body == MESSAGE
    assert headers["ip"] == ["127.0.0.9"]
    assert headers["helo"] == ["client.sender.test"]
    assert headers["hostname"] == ["client.sender.test"]
    assert headers["from"] == ["a@sender.test"]
    assert headers["rcpt"] == ["alice@example.org", "bob@example.org"]
    assert headers["queue-id"] == ["abc123"]
    assert headers["mta-name"] == ["mail.example.org"]
    assert "user" not in headers


async def test_chunked_answer(fake: Callable[..., Awaitable[Fake]]) -> None:
    async def respond(w: Writer) -> None:
        body = json.dumps({"action": "reject", "score": 15.0}).encode()
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (body[:10], body[10:]):
            w.write(b"%x\r\n%s\r\n" % (len(part), part))
        w.write(b"0\r\n\r\n")
        await w.drain()

    f = await fake(respond)
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=5) == Answer("reject", 15.0, None)


async def test_no_answer_in_time_is_no_verdict(
    fake: Callable[..., Awaitable[Fake]], caplog: pytest.LogCaptureFixture
) -> None:
    async def hang(w: Writer) -> None:
        await asyncio.sleep(30)

    f = await fake(hang)
    start = time.monotonic()
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=0.3) is None
    assert time.monotonic() - start < 2
    assert "rspamd gave no answer" in caplog.text


async def test_slow_head_is_bounded_too(fake: Callable[..., Awaitable[Fake]]) -> None:
    async def drip(w: Writer) -> None:  # a byte at a time, never finishing
        w.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(300):
            w.write(b"X")
            await w.drain()
            await asyncio.sleep(0.01)

    f = await fake(drip)
    start = time.monotonic()
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=0.5) is None
    assert time.monotonic() - start < 2


async def test_huge_answer_is_cut_off(
    fake: Callable[..., Awaitable[Fake]], caplog: pytest.LogCaptureFixture
) -> None:
    fake_ref: list[Fake] = []

    async def flood(w: Writer) -> None:
        size = 64 * 1024 * 1024
        w.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            w.write(chunk)
            await w.drain()
            fake_ref[0].sent += len(chunk)

    f = await fake(flood)
    fake_ref.append(f)
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=10) is None
    assert "larger than" in errors(caplog)
    # The client stopped reading and closed: far less than 64 MiB went out.
    assert f.sent < 16 * 1024 * 1024


async def test_huge_head_is_refused(fake: Callable[..., Awaitable[Fake]]) -> None:
    async def fields(w: Writer) -> None:
        w.write(b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * 100_000 + b"\r\n\r\n{}")
        await w.drain()

    f = await fake(fields)
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=5) is None


@pytest.mark.parametrize(
    ("respond", "logged"),
    [
        (answer(b"not json"), "answer is not JSON"),
        (answer(b"[1, 2]"), "not a JSON object"),
        (answer(b'{"action": "drop it", "score": 1}'), "unknown action"),
        (answer(b'{"action": "reject", "score": "high"}'), "no numeric score"),
        (answer(b'{"action": "reject", "score": 1e999}'), "no numeric score"),
        (answer(b"[" * 100_000 + b"]" * 100_000), "answer is not JSON"),
        (
            answer(b'{"error":"invalid command"}', "500 invalid command"),
            "HTTP status 500",
        ),
        (answer(b'{"error":"bad message"}'), "rspamd says: bad message"),
    ],
)
async def test_unusable_answers_are_no_verdict(
    fake: Callable[..., Awaitable[Fake]],
    caplog: pytest.LogCaptureFixture,
    respond: Callable[[Writer], Awaitable[None]],
    logged: str,
) -> None:
    f = await fake(respond)
    assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=5) is None
    assert logged in errors(caplog)


async def test_closed_or_garbage_or_refused_is_no_verdict(
    fake: Callable[..., Awaitable[Fake]],
) -> None:
    async def close(w: Writer) -> None:
        return

    async def garbage(w: Writer) -> None:
        w.write(b"SPAMD/1.5 0 EX_OK\r\n\r\n")
        await w.drain()

    for respond in (close, garbage):
        f = await fake(respond)
        assert await rspamd.check(f.endpoint, MESSAGE, ENV, timeout=5) is None
    # Nothing listens on a port of a server that stopped.
    server = await asyncio.start_server(f.handle, "127.0.0.1", 0)
    gone = Endpoint("127.0.0.1", server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    assert await rspamd.check(gone, MESSAGE, ENV, timeout=5) is None


async def test_envelope_values_cannot_inject_fields(fake: Callable[..., Awaitable[Fake]]) -> None:
    f = await fake(answer(json.dumps(GOOD).encode()))
    env = Envelope(ip="127.0.0.9", helo="evil\r\nUser: admin", mail_from="")
    assert await rspamd.check(f.endpoint, MESSAGE, env, timeout=5) is not None
    [(_, headers, _)] = f.requests
    assert headers["helo"] == ["evil  User: admin"]
    assert "user" not in headers
    assert headers["from"] == ["<>"]  # the null reverse path


def test_request_fields_with_user() -> None:
    fields = request_fields(Envelope(ip="::1", user="alice", rcpts=("x@y.test",)))
    assert fields == [("IP", "::1"), ("From", "<>"), ("Rcpt", "x@y.test"), ("User", "alice")]


def test_parse_url() -> None:
    assert parse_url("http://127.0.0.1:11333") == Endpoint("127.0.0.1", 11333)
    assert parse_url("http://127.0.0.1") == Endpoint("127.0.0.1", 11333)
    assert parse_url("http://[::1]:8/") == Endpoint("::1", 8)
    assert Endpoint("::1", 8).hostport == "[::1]:8"
    for bad in (
        "https://127.0.0.1:11333",
        "http://localhost:11333",
        "http://127.0.0.1:11333/checkv2",
        "http://u:p@127.0.0.1:1",
        "http://127.0.0.1:99999",
        "127.0.0.1:11333",
    ):
        with pytest.raises(RspamdError):
            parse_url(bad)


def test_parse_answer_of_real_rspamd() -> None:
    # As Debian's rspamd 3.4 answered to the GTUBE message.
    body = (
        b'{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject",'
        b'"symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},'
        b'"messages":{"smtp_message":"Gtube pattern"},"message-id":"undef","time_real":0.16}'
    )
    got = parse_answer(body, "test")
    assert got == Answer("reject", 15.0, 15.0, ("GTUBE",))
    assert header_field(got) == (
        b"X-Postel-Rspamd: reject; score=15.00; required=15.00; symbols=GTUBE\r\n"
    )
    assert header_field(None) == b""
    assert header_field(Answer("no action", -1.5, None)) == (
        b"X-Postel-Rspamd: no action; score=-1.50\r\n"
    )


class SlowResolver(MockResolver):
    async def lookup(self, name: str, rdtype: str) -> DNSAnswer:
        if rdtype == "A":
            await asyncio.sleep(0.6)
        return await super().lookup(name, rdtype)


async def test_filter_asks_rspamd_beside_the_dnsbl_lookups(
    fake: Callable[..., Awaitable[Fake]], tmp_path: Path
) -> None:
    async def slow(w: Writer) -> None:
        await asyncio.sleep(0.6)
        await answer(json.dumps(GOOD).encode())(w)

    f = await fake(slow)
    octets = "2.0.0.127"
    resolver = SlowResolver({(f"{octets}.bl.test", "A"): ["127.0.0.2"]})
    settings = Settings(
        dnsbl_zones=("bl.test",), dnsbl_internal_senders=True, rspamd=f.endpoint, rspamd_timeout=5
    )
    jf = JunkFilter(tmp_path, settings, resolver)
    start = time.monotonic()
    listed, checked = await jf.lookups(MESSAGE, Envelope(ip="127.0.0.2"))
    elapsed = time.monotonic() - start
    assert listed is not None and [x.zone for x in listed.listed] == ["bl.test"]
    assert checked is not None and checked.action == "add header"
    assert elapsed < 1.0  # both 0.6 s waits overlapped (one after the other: 1.2 s)
    filing = await jf.file("u", MESSAGE, Verified(ip="127.0.0.2"), listed=listed, checked=checked)
    assert filing.target == "junk"
    assert filing.reasons == ("listed by bl.test", "rspamd: add header (7.5)")
    # Not configured: not asked.
    jf2 = JunkFilter(tmp_path, Settings(), None)
    assert await jf2.lookups(MESSAGE, Envelope(ip="127.0.0.2")) == (None, None)
    assert len(f.requests) == 1
    jf.close()
    jf2.close()
