"""Passwords in PostgreSQL: shared by the nodes, never stored in clear."""

from __future__ import annotations

import pytest
from pghelpers import open_migrated

from postel.pg.credentials import PgCredentials
from postel.pg.settings import PgSettings
from postel.store.errors import CredentialsError
from postel.store.passwords import scram_sha256_keys

PASSWORD = "correct horse battery staple"


async def test_passwords_shared_by_two_nodes(pg_settings: PgSettings) -> None:
    one, two = await open_migrated(pg_settings), await open_migrated(pg_settings)
    try:
        a, b = PgCredentials(one), PgCredentials(two)
        await a.set_password("alice", PASSWORD)
        assert await b.verify("alice", PASSWORD)
        assert not await b.verify("alice", "wrong")
        assert not await b.verify("nobody", PASSWORD)
        salt, iterations, stored, server = await b.scram_sha256("alice") or (b"", 0, b"", b"")
        expected = scram_sha256_keys(PASSWORD, salt=salt, iterations=iterations)
        assert (stored, server) == (expected.stored_key, expected.server_key)
        async with one.connection() as conn:
            cur = await conn.execute("SELECT * FROM credential")
            rows = await cur.fetchall()
        assert PASSWORD.encode() not in repr(rows).encode()
        await a.set_password("alice", "new one")
        assert await b.verify("alice", "new one") and not await b.verify("alice", PASSWORD)
        assert await b.accounts() == ["alice"]
        assert await a.remove("alice") and not await a.remove("alice")
        assert await b.scram_sha256("alice") is None
        with pytest.raises(CredentialsError):
            await a.set_password("bob", "")
    finally:
        await one.close()
        await two.close()


async def test_decoy_keys_are_the_same_on_every_node(pg_settings: PgSettings) -> None:
    one, two = await open_migrated(pg_settings), await open_migrated(pg_settings)
    try:
        a, b = PgCredentials(one), PgCredentials(two)
        decoy = await a.scram_sha256_or_decoy("nobody")
        assert decoy == await b.scram_sha256_or_decoy("nobody")
        assert decoy != await a.scram_sha256_or_decoy("someone")
        assert await a.secret("x") == await b.secret("x") != await a.secret("y")
    finally:
        await one.close()
        await two.close()
