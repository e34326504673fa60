"""Quotas on SMTP (RFC 5321 §4.5.3.1.10, RFC 3463 §3.3):
RCPT to a full account 452 4.2.2, a declared SIZE without room 552 5.2.2 at
RCPT, a message without room 552 5.2.2 after DATA, on port 25 and submission;
on the SQLite and the PostgreSQL store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trustme
from smtpserver_env import PASSWORD, RECORDS, Env, make_config, run

from pgcluster import pg_cluster, pg_database
from postel.dns.mock import MockResolver
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.credentials import Credentials
from quotabackends import open_accounts

__all__ = ["pg_cluster", "pg_database"]

QUOTA = 8000  # alice's; bob has none


@pytest.fixture(params=["sqlite", "postgresql"])
async def qenv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    alice = cfg.domains.accounts["alice"]
    cfg.domains.accounts["alice"] = alice.model_copy(update={"quota": QUOTA})
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    async with AsyncExitStack() as stack:
        store = await open_accounts(request, cfg, tmp_path, stack)
        service = SMTPService(cfg, store, MockResolver(dict(RECORDS)), LocalSubmitter(cfg, store))
        await service.start()
        stack.push_async_callback(service.stop)
        ports = {kind: port for _ip, port, kind in service.bound}
        yield Env(cfg, store, service, MockResolver({}), ca, ports)  # type: ignore[arg-type]


def message(size: int, to: str = "alice@example.org", sender: str = "someone@sender.test") -> bytes:
    head = f"From: {sender}\r\nTo: {to}\r\nSubject: quota\r\n\r\n".encode()
    body = b"x" * (size - len(head) - 2)
    lines = b"\r\n".join(body[i : i + 78] for i in range(0, len(body), 78))
    return head + lines[: len(body)] + b"\r\n"  # lines of 78 (RFC 5322 §2.1.1)


async def fill(env: Env, size: int) -> None:
    """Alice's Inbox holds *size* bytes (from a thread: the PostgreSQL store's
    synchronous calls must not come from its event loop)."""
    await asyncio.to_thread(env.store.account("alice").deliver_bytes, "Inbox", message(size))


async def messages(env: Env, account: str) -> list[Any]:
    return await asyncio.to_thread(env.messages, account)


async def test_rcpt_to_a_full_account_is_452_the_others_go_on(qenv: Env) -> None:
    await fill(qenv, QUOTA)

    def go() -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with qenv.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            alice = c.rcpt("alice@example.org")
            bob = c.rcpt("bob@example.org")
            return alice, bob, c.data(message(500, to="bob@example.org"))

    alice, bob, data = await run(go)
    assert alice[0] == 452 and alice[1].startswith(b"4.2.2"), alice
    assert bob[0] == 250 and data[0] == 250, (bob, data)
    assert len(await messages(qenv, "bob")) == 1 and len(await messages(qenv, "alice")) == 1


async def test_declared_size_without_room_is_552_at_rcpt(qenv: Env) -> None:
    await fill(qenv, 5000)

    def go() -> tuple[int, bytes]:
        with qenv.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test", ["SIZE=4000"])
            return c.rcpt("alice@example.org")

    code, text = await run(go)
    assert code == 552 and text.startswith(b"5.2.2"), text


async def test_message_without_room_is_552_after_data(qenv: Env) -> None:
    await fill(qenv, 5000)

    def go(size: int) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with qenv.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            rcpt = c.rcpt("alice@example.org")
            return rcpt, c.data(message(size))

    rcpt, data = await run(lambda: go(4000))
    assert rcpt[0] == 250
    assert data[0] == 552 and data[1].startswith(b"5.2.2"), data
    assert len(await messages(qenv, "alice")) == 1
    _, data = await run(lambda: go(1500))  # what fits still arrives
    assert data[0] == 250, data
    assert len(await messages(qenv, "alice")) == 2


async def test_alias_with_a_full_member_refuses_the_message_for_all(qenv: Env) -> None:
    """One reply after DATA answers every recipient: no partial delivery."""
    await fill(qenv, 7000)

    def go() -> tuple[int, bytes]:
        with qenv.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            assert c.rcpt("team@example.org")[0] == 250
            return c.data(message(3000, to="team@example.org"))

    code, text = await run(go)
    assert code == 552 and text.startswith(b"5.2.2"), text
    assert await messages(qenv, "bob") == [] and len(await messages(qenv, "alice")) == 1


async def test_submission_to_a_local_account_without_room(qenv: Env) -> None:
    await fill(qenv, 7000)

    def go() -> tuple[int, bytes]:
        with qenv.submissions() as c:
            c.login("alice", PASSWORD)
            c.mail("alice@example.org")
            c.rcpt("alice@example.org")
            return c.data(message(3000, sender="alice@example.org"))

    code, text = await run(go)
    assert code == 552 and text.startswith(b"5.2.2"), text
    assert len(await messages(qenv, "alice")) == 1
