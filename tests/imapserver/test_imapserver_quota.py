"""QUOTA (RFC 9208): one root "" per account with STORAGE in KiB, from the
account's quota in domains.toml; APPEND and COPY beyond it: NO [OVERQUOTA].
On the SQLite and the PostgreSQL store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trustme
from imap_env import PASSWORD, Env, make_config, raw_tls, run

from pgcluster import pg_cluster, pg_database
from postel.imapserver import IMAPService
from postel.imapserver.quota import storage_kib
from postel.pg.nodeparts import PgAccounts
from postel.store.credentials import Credentials
from quotabackends import open_accounts

__all__ = ["pg_cluster", "pg_database"]

QUOTA = 10 * 1024  # alice: 10 KiB; bob: none


@pytest.fixture(params=["sqlite", "postgresql"])
async def qenv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    alice = cfg.domains.accounts["alice"]
    cfg.domains.accounts["alice"] = alice.model_copy(update={"quota": QUOTA})
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
        creds.set_password("bob", PASSWORD)
    async with AsyncExitStack() as stack:
        store = await open_accounts(request, cfg, tmp_path, stack)
        open_store = store.mailstore if isinstance(store, PgAccounts) else None
        service = IMAPService(cfg, store, open_store=open_store)
        await service.start()
        stack.push_async_callback(service.stop)
        ports = {kind: port for _ip, port, kind in service.bound}
        yield Env(cfg, store, service, ca, ports)  # type: ignore[arg-type]


async def deliver(env: Env, data: bytes) -> None:
    """Into alice's Inbox, from a thread: the PostgreSQL store's synchronous
    calls must not come from its event loop."""
    await asyncio.to_thread(env.deliver, data)


def message(size: int) -> bytes:
    head = b"From: a@example.net\r\nSubject: big\r\n\r\n"
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


def test_kib_rounding() -> None:
    assert storage_kib(0, 10 * 1024) == (0, 10)
    assert storage_kib(1, 10 * 1024 + 1023) == (1, 10)  # usage up, limit down
    assert storage_kib(2048, 4096) == (2, 4)


async def test_getquotaroot_getquota_and_the_capability(qenv: Env) -> None:
    await deliver(qenv, message(3000))

    def client() -> None:
        r = raw_tls(qenv)
        caps = r.cmd(b"c CAPABILITY")[0]
        assert b" QUOTA " in caps and b"QUOTA=RES-STORAGE" in caps and b"QUOTASET" not in caps
        out = r.cmd(b"a GETQUOTAROOT INBOX")
        assert out[0] == b'* QUOTAROOT INBOX ""\r\n'
        assert out[1] == b'* QUOTA "" (STORAGE 3 10)\r\n'
        assert out[-1].startswith(b"a OK")
        out = r.cmd(b'b GETQUOTA ""')
        assert out == [b'* QUOTA "" (STORAGE 3 10)\r\n', out[-1]] and out[-1].startswith(b"b OK")
        assert r.cmd(b"d GETQUOTA other")[-1].startswith(b"d NO [NONEXISTENT]")
        assert r.cmd(b'e SETQUOTA "" (STORAGE 99)')[-1].startswith(b"e NO [NOPERM]")
        assert r.cmd(b"f GETQUOTAROOT Nowhere")[-1].startswith(b"f NO [NONEXISTENT]")
        r.close()

    await run(client)


async def test_an_account_without_quota_has_no_root(qenv: Env) -> None:
    def client() -> None:
        r = raw_tls(qenv, login=False)
        assert r.cmd(b'L LOGIN bob "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")
        out = r.cmd(b"a GETQUOTAROOT INBOX")
        assert out[0] == b"* QUOTAROOT INBOX\r\n" and out[-1].startswith(b"a OK")
        assert r.cmd(b'b GETQUOTA ""')[-1].startswith(b"b NO [NONEXISTENT]")
        r.close()

    await run(client)


async def test_append_and_copy_over_quota_are_no_overquota(qenv: Env) -> None:
    await deliver(qenv, message(6000))

    def client() -> None:
        r = raw_tls(qenv)
        big = message(5000)
        out = r.cmd(b"a APPEND INBOX {%d+}\r\n" % len(big) + big)
        assert out[-1].startswith(b"a NO [OVERQUOTA]"), out
        small = message(1000)
        assert r.cmd(b"b APPEND INBOX {%d+}\r\n" % len(small) + small)[-1].startswith(b"b OK")
        r.cmd(b"s SELECT INBOX")
        out = r.cmd(b"c COPY 1 Archive")  # 6000 more bytes: no room
        assert out[-1].startswith(b"c NO [OVERQUOTA]"), out
        assert r.cmd(b"d COPY 2 Archive")[-1].startswith(b"d OK")
        assert r.cmd(b"e GETQUOTAROOT INBOX")[1] == b'* QUOTA "" (STORAGE 8 10)\r\n'
        r.close()

    await run(client)
    acc = qenv.store.account("alice")
    assert await asyncio.to_thread(lambda: (acc.mailbox("Inbox").total, acc.usage())) == (2, 8000)
