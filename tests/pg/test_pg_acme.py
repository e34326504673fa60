"""ACME keys, certificates and challenges shared by two nodes of one PostgreSQL
store (postel.pg.acmestore, postel.pg.acmechallenges), each node with its own
data directory whose files its listeners load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pghelpers import open_migrated

from postel.acme.storage import KINDS, CertStore, spki_sha256
from postel.hostkeys import self_signed_cert
from postel.pg.acmechallenges import PgChallenges
from postel.pg.acmestore import PgCertStore
from postel.pg.settings import PgSettings

NAMES = ["mail.example.org", "mta-sts.example.org"]


@dataclass
class Node:
    store: PgCertStore
    challenges: PgChallenges

    @property
    def files(self) -> CertStore:
        return self.store.files


def node(root: Path, settings: PgSettings) -> Node:
    (root / "tmp").mkdir(parents=True)
    challenges = PgChallenges(settings, root / "tmp", settle=0.0)
    return Node(PgCertStore(CertStore(root), settings, challenges), challenges)


@pytest.fixture
async def nodes(tmp_path: Path, pg_settings: PgSettings) -> AsyncIterator[tuple[Node, Node]]:
    pool = await open_migrated(pg_settings)
    await pool.close()
    yield node(tmp_path / "a", pg_settings), node(tmp_path / "b", pg_settings)


async def eventually(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def new_chain(files: CertStore, kind: str) -> bytes:
    cert = self_signed_cert(files.host_key(kind), NAMES, days=5)
    return cert.public_bytes(serialization.Encoding.PEM)


async def test_the_first_node_s_keys_are_every_node_s(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await a.store.setup(NAMES)
    await b.store.setup(NAMES)
    for kind in KINDS:
        assert b.files.key_file(kind).read_bytes() == a.files.key_file(kind).read_bytes()
        assert b.files.cert_file(kind).read_bytes() == a.files.cert_file(kind).read_bytes()
        assert oct(b.files.key_file(kind).stat().st_mode & 0o777) == "0o600"
    assert b.files.account_key_file.read_bytes() == a.files.account_key_file.read_bytes()
    # A restart of A changes nothing.
    await a.store.setup(NAMES)
    assert not await a.store.pull()


async def test_one_node_orders_at_a_time(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    async with a.store.exclusive() as mine:
        assert mine
        async with b.store.exclusive() as theirs:
            assert not theirs
    async with b.store.exclusive() as theirs:
        assert theirs


async def test_a_new_certificate_reaches_the_other_node_s_files_when_notified(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await a.store.setup(NAMES)
    await b.store.setup(NAMES)
    woken = asyncio.Event()
    follower = asyncio.create_task(b.store.follow(woken.set, poll=30.0))
    try:
        await asyncio.sleep(0.5)  # LISTEN in place
        chain = new_chain(a.files, "ecdsa")
        a.files.write_chain("ecdsa", chain)
        a.files.save_account("https://ca.test/dir", "https://ca.test/acct/1", ["ca.test"])
        await a.store.publish()
        await asyncio.wait_for(woken.wait(), 5)  # long before the 30 s look
        assert b.files.cert_file("ecdsa").read_bytes() == chain
        assert b.files.account_uri("https://ca.test/dir") == "https://ca.test/acct/1"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def test_a_key_rollover_reaches_the_other_node(nodes: tuple[Node, Node]) -> None:
    """The next key is shared while its TLSA record waits, and replaces the key
    on every node once promoted (RFC 7671 §8.1)."""
    a, b = nodes
    await a.store.setup(NAMES)
    await b.store.setup(NAMES)
    assert a.files.start_rollover("ecdsa")
    await a.store.publish()
    assert await b.store.pull()
    assert b.files.pending_rollovers() == ["ecdsa"]
    assert sorted(b.files.tlsa_digests()) == sorted(a.files.tlsa_digests())
    next_key = a.files.next_key("ecdsa")
    chain = self_signed_cert(next_key, NAMES, days=5).public_bytes(serialization.Encoding.PEM)
    a.files.promote("ecdsa", chain)
    await a.store.publish()
    assert await b.store.pull()
    assert b.files.pending_rollovers() == []
    assert spki_sha256(b.files.host_key("ecdsa")) == spki_sha256(next_key)
    assert b.files.cert_file("ecdsa").read_bytes() == chain


async def test_a_rollover_started_on_a_node_is_kept_until_it_publishes(
    nodes: tuple[Node, Node],
) -> None:
    a, _ = nodes
    await a.store.setup(NAMES)
    assert a.files.start_rollover("rsa")
    assert not await a.store.pull()
    assert a.files.pending_rollovers() == ["rsa"]


async def test_challenges_of_one_node_are_answered_by_the_other(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await b.store.setup(NAMES)
    follower = asyncio.create_task(b.store.follow(lambda: None, poll=30.0))
    try:
        await asyncio.sleep(0.5)
        # As the ACME client does: from its thread, before asking the CA.
        await asyncio.to_thread(a.challenges.add_http, "tok-1", "tok-1.thumb")
        await asyncio.to_thread(
            a.challenges.add_tls_alpn, "Mail.Example.org", "tok-2.thumb", a.files.root / "tmp"
        )
        await eventually(lambda: b.challenges.http_answer("tok-1") == "tok-1.thumb", "http-01")
        await eventually(
            lambda: b.challenges.tls_alpn_context("mail.example.org.") is not None, "tls-alpn-01"
        )
        assert a.challenges.http_answer("tok-1") == "tok-1.thumb"
        assert b.challenges.http_answer("tok-2") is None
        await asyncio.to_thread(a.challenges.remove_http, "tok-1")
        await asyncio.to_thread(a.challenges.remove_tls_alpn, "mail.example.org")
        await eventually(lambda: b.challenges.http_answer("tok-1") is None, "http-01 gone")
        await eventually(
            lambda: b.challenges.tls_alpn_context("mail.example.org") is None, "tls-alpn-01 gone"
        )
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
