"""The IMAP server on the PostgreSQL store: real IMAP sessions (postel's
IMAPService, its MailStore seam given PgMailStore) and IDLE woken by NOTIFY
from a delivery made through another pool, as another node would."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "imapserver"))

from imap_env import MESSAGE, PASSWORD, Raw, make_config, raw_tls
from pghelpers import open_migrated

from postel.imapserver import IMAPService
from postel.imapserver.storeapi import MailStore
from postel.pg.accountstore import PgAccount, PgStore
from postel.pg.listener import ChangeListener
from postel.pg.settings import PgSettings
from postel.pg.syncstore import PgMailStore
from postel.store.credentials import Credentials
from postel.store.store import Store


class PgIMAPService(IMAPService):
    """IMAPService whose sessions use the PostgreSQL store."""

    def __init__(self, *args: object, accounts: dict[str, PgAccount], cache: Path, **kw: object):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.accounts = accounts
        self.cache = cache
        self.loop = asyncio.get_running_loop()

    def _open_store(self, account: str) -> MailStore:
        return PgMailStore(self.accounts[account], self.loop, self.cache / account)


@dataclass
class PgEnv:
    service: PgIMAPService
    node_b: PgStore  # another pool: what another node would write through
    env: object  # imap_env.Env-like: ca and ports for raw_tls


@dataclass
class _EnvShim:
    ca: trustme.CA
    ports: dict[str, int]

    def client_context(self):  # type: ignore[no-untyped-def]
        import ssl

        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture
async def pgenv(tmp_path: Path, pg_settings: PgSettings) -> AsyncIterator[PgEnv]:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    pool_a = await open_migrated(pg_settings)
    pool_b = await open_migrated(replace(pg_settings, pool_max=2))
    listener = ChangeListener(pg_settings, fallback=60.0)  # no polling: NOTIFY or nothing
    store = Store(cfg.datadir)  # the service's SQLite store, unused by these sessions
    try:
        accounts = {"alice": await PgStore(pool_a).create_account("alice")}
        service = PgIMAPService(cfg, store, accounts=accounts, cache=tmp_path / "bodies")
        await service.start()
        await listener.start()
        assert listener.listening
        assert service.ctx is not None
        service.ctx.changes = listener
        ports = {kind: port for _ip, port, kind in service.bound}
        try:
            yield PgEnv(service, PgStore(pool_b), _EnvShim(ca, ports))
        finally:
            await service.stop()
    finally:
        await listener.stop()
        await pool_a.close()
        await pool_b.close()
        store.close()


def _session(env: object) -> Raw:
    return raw_tls(env)  # type: ignore[arg-type]


async def test_imap_commands_on_the_postgresql_store(pgenv: PgEnv) -> None:
    def client() -> list[list[bytes]]:
        r = _session(pgenv.env)
        try:
            out = [r.cmd(b"a ENABLE CONDSTORE"), r.cmd(b"b SELECT INBOX")]
            r.send(b"c APPEND INBOX (\\Flagged) {%d}\r\n" % len(MESSAGE))
            assert r.line().startswith(b"+")
            r.send(MESSAGE + b"\r\n")
            out.append(r.until(b"c"))
            out.append(r.cmd(b"d NOOP"))
            out.append(r.cmd(b"e UID FETCH 1 (FLAGS RFC822.SIZE ENVELOPE BODY[])"))
            out.append(r.cmd(b"f UID STORE 1 +FLAGS (\\Seen)"))
            out.append(r.cmd(b"g UID MOVE 1 Archive"))
            out.append(r.cmd(b"h STATUS Archive (MESSAGES UNSEEN UIDNEXT)"))
            return out
        finally:
            r.close()

    _enable, select, append, noop, fetch, store, move, status = await asyncio.to_thread(client)
    assert b"OK" in select[-1]
    assert b"APPENDUID" in append[-1] and b"OK" in append[-1]
    assert any(b"* 1 EXISTS" in line for line in append + noop)
    text = b"".join(fetch)
    assert b"\\Flagged" in text and b"hello there" in text and b"how are you?" in text
    assert b"OK" in fetch[-1]
    assert any(b"\\Seen" in line and b"MODSEQ" in line for line in store)
    assert b"OK" in move[-1]
    assert b"MESSAGES 1 UNSEEN 0 UIDNEXT 2" in b"".join(status)
    archive = await (await pgenv.node_b.account("alice")).mailbox("Archive")
    assert (archive.total, archive.unseen) == (1, 0)


async def test_idle_hears_a_delivery_through_another_node_within_a_second(
    pgenv: PgEnv,
) -> None:
    r = await asyncio.to_thread(_session, pgenv.env)
    try:
        assert b"OK" in (await asyncio.to_thread(r.cmd, b"s SELECT INBOX"))[-1]
        await asyncio.to_thread(r.send, b"i IDLE\r\n")
        assert (await asyncio.to_thread(r.line)).startswith(b"+")
        started = time.monotonic()
        await pgenv.node_b.deliver("alice", "Inbox", MESSAGE)
        line = await asyncio.wait_for(asyncio.to_thread(r.line), 5)
        elapsed = time.monotonic() - started
        await asyncio.to_thread(r.send, b"DONE\r\n")
        assert b"OK" in (await asyncio.to_thread(r.until, b"i"))[-1]
    finally:
        r.close()
    assert line == b"* 1 EXISTS\r\n"
    assert elapsed < 1.0, f"IDLE heard the delivery after {elapsed:.2f} s"
