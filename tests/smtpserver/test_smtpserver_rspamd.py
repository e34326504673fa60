"""rspamd at delivery on the incoming port: asked once per message whatever
the number of recipients, its verdict in an X-Postel-Rspamd field of the
stored message and among each account's filing reasons; no answer in time
delivers the message as without rspamd. The rspamd here is a fake on
loopback (tests/integration/test_rspamd_peer_delivery.py has Debian's)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from smtpserver_env import RECORDS, STATIC, Env, make_config, run

from metricsamples import scrape
from postel.config import load_config
from postel.dns.mock import MockResolver
from postel.junk.filter import JunkFilter, Settings, message_key
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.store import Store

MSG = (
    b"From: someone@sender.test\r\nTo: team@example.org\r\nSubject: hello\r\n"
    b"Message-ID: <1@sender.test>\r\n\r\nSee you tomorrow.\r\n"
)


@dataclass
class FakeRspamd:
    answer: dict[str, object]
    delay: float = 0.0
    bodies: list[bytes] = field(default_factory=list)
    rcpts: list[list[str]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            fields = [line.split(":", 1) for line in head.split("\r\n")[1:] if line]
            length = next(int(v) for k, v in fields if k.lower() == "content-length")
            self.bodies.append(await reader.readexactly(length))
            self.rcpts.append([v.strip() for k, v in fields if k.lower() == "rcpt"])
            await asyncio.sleep(self.delay)
            body = json.dumps(self.answer).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def rspamd_env(tmp_path: Path) -> AsyncIterator[tuple[Env, FakeRspamd]]:
    fake = FakeRspamd({"action": "no action", "score": 1.25, "required_score": 15.0})
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ca = trustme.CA()
    make_config(tmp_path, ca)
    (tmp_path / "postel.toml").write_text(
        STATIC + f'\n[junk]\nrspamd_url = "http://127.0.0.1:{port}"\nrspamd_timeout = 0.5\n'
    )
    cfg = load_config(tmp_path)
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    resolver = MockResolver(dict(RECORDS))
    service = SMTPService(cfg, store, resolver, LocalSubmitter(cfg, store))
    await service.start()
    ports = {kind: p for _ip, p, kind in service.bound}
    try:
        yield Env(cfg, store, service, resolver, ca, ports), fake
    finally:
        await service.stop()
        store.close()
        server.close()
        await server.wait_closed()


def send(env: Env, rcpts: list[str], msg: bytes = MSG) -> tuple[int, bytes]:
    with env.smtp() as c:
        c.ehlo()
        c.mail("someone@sender.test")
        for r in rcpts:
            c.rcpt(r)
        return c.data(msg)


@pytest.fixture
def checks(metrics_dir: Path) -> Callable[[], dict[str, float]]:
    """Metrics on in this process; the rspamd checks counted so far, by result."""

    def counted() -> dict[str, float]:
        return {
            dict(labels)["result"]: v
            for (name, labels), v in scrape(metrics_dir).items()
            if name == "postel_rspamd_checks_total"
        }

    return counted


def filing_reasons(env: Env, account: str, stored: bytes) -> tuple[str, ...]:
    jf = JunkFilter(env.cfg.datadir.accounts_dir, Settings(), None)
    deadline = time.monotonic() + 5
    while True:  # recorded in the background after the reply
        filing = jf.filing(account, message_key(stored))
        if filing is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    jf.close()
    assert filing is not None
    return filing.reasons


async def test_asked_once_for_all_recipients_and_recorded(
    rspamd_env: tuple[Env, FakeRspamd], checks: Callable[[], dict[str, float]]
) -> None:
    env, fake = rspamd_env
    code, _ = await run(lambda: send(env, ["team@example.org"]))  # alice and bob
    assert code == 250
    assert len(fake.bodies) == 1 and fake.bodies[0] == MSG
    assert fake.rcpts == [["team@example.org"]]
    for account in ("alice", "bob"):
        [msg] = env.messages(account)
        stored = env.message_bytes(account, msg)
        assert stored.startswith(b"X-Postel-Rspamd: no action; score=1.25; required=15.00\r\n")
        reasons = await run(lambda a=account, s=stored: filing_reasons(env, a, s))
        assert reasons[-1] == "rspamd: no action (1.2)"
    assert checks() == {"no_action": 1.0}


async def test_add_header_files_in_junk_and_reject_in_rejects(
    rspamd_env: tuple[Env, FakeRspamd],
) -> None:
    env, fake = rspamd_env
    fake.answer = {"action": "add header", "score": 7.0, "symbols": {"BAYES_SPAM": {}}}
    assert (await run(lambda: send(env, ["alice@example.org"])))[0] == 250
    [msg] = env.messages("alice", "Junk")
    assert env.message_bytes("alice", msg).startswith(
        b"X-Postel-Rspamd: add header; score=7.00; symbols=BAYES_SPAM\r\n"
    )
    fake.answer = {"action": "reject", "score": 20.0}
    assert (await run(lambda: send(env, ["alice@example.org"])))[0] == 250
    [msg] = env.messages("alice", "Rejects")
    stored = env.message_bytes("alice", msg)
    assert await run(lambda: filing_reasons(env, "alice", stored)) == ("rspamd: reject (20.0)",)


async def test_no_answer_in_time_delivers_as_without(
    rspamd_env: tuple[Env, FakeRspamd], checks: Callable[[], dict[str, float]]
) -> None:
    env, fake = rspamd_env
    fake.delay = 5  # above rspamd_timeout (0.5 s)
    fake.answer = {"action": "reject", "score": 20.0}
    start = time.monotonic()
    assert (await run(lambda: send(env, ["alice@example.org"])))[0] == 250
    assert time.monotonic() - start < 4
    [msg] = env.messages("alice")
    assert b"X-Postel-Rspamd" not in env.message_bytes("alice", msg)
    assert checks() == {"error": 1.0}
