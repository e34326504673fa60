"""auth.db credentials and the password hashing beneath them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest

from postel.store import CredentialsError, UnknownAccount
from postel.store.credentials import Credentials
from postel.store.passwords import (
    SCRAM_ITERATIONS,
    saslprep,
    scram_sha256_keys,
    scrypt_hash,
    scrypt_verify,
)


@pytest.fixture
def creds(tmp_path: Path) -> Credentials:
    c = Credentials(tmp_path / "auth.db")
    yield c  # type: ignore[misc]
    c.close()


def test_set_and_verify(creds: Credentials) -> None:
    creds.set_password("alice", "correct horse")
    assert creds.verify("alice", "correct horse") is True
    assert creds.verify("alice", "correct horsE") is False
    assert creds.verify("alice", "") is False
    assert creds.verify("bob", "correct horse") is False
    assert creds.has_password("alice") and not creds.has_password("bob")


def test_change_and_remove(creds: Credentials) -> None:
    creds.set_password("alice", "first password")
    creds.set_password("alice", "second password")
    assert not creds.verify("alice", "first password")
    assert creds.verify("alice", "second password")
    assert creds.accounts() == ["alice"]
    assert creds.remove("alice") is True
    assert creds.remove("alice") is False
    assert not creds.verify("alice", "second password")
    assert creds.scram_sha256("alice") is None


def test_no_clear_text_and_random_salts(creds: Credentials, tmp_path: Path) -> None:
    creds.set_password("alice", "same password")
    creds.set_password("bob", "same password")
    conn = sqlite3.connect(tmp_path / "auth.db")
    rows = conn.execute("SELECT account, scrypt, scram_salt FROM password").fetchall()
    conn.close()
    (_, hash_a, salt_a), (_, hash_b, salt_b) = sorted(rows)
    assert "same password" not in hash_a
    assert hash_a.startswith("$scrypt$ln=14,r=8,p=1$")
    assert hash_a != hash_b and hash_a.split("$")[3] != hash_b.split("$")[3]
    assert salt_a != salt_b
    raw = (tmp_path / "auth.db").read_bytes()
    assert b"same password" not in raw
    assert (tmp_path / "auth.db").stat().st_mode & 0o077 == 0


def test_persisted_across_reopen(tmp_path: Path) -> None:
    with Credentials(tmp_path / "auth.db") as c:
        c.set_password("alice", "persist me")
    with Credentials(tmp_path / "auth.db") as c:
        assert c.verify("alice", "persist me")


def test_invalid_input(creds: Credentials) -> None:
    with pytest.raises(CredentialsError):
        creds.set_password("alice", "")
    with pytest.raises(UnknownAccount):
        creds.set_password("Not Valid", "password")
    with pytest.raises(CredentialsError):
        creds.set_password("alice", "bell\x07")


def test_scram_material_matches_stored_password(creds: Credentials) -> None:
    creds.set_password("alice", "pencil")
    material = creds.scram_sha256("alice")
    assert material is not None
    salt, iterations, stored_key, server_key = material
    assert iterations == SCRAM_ITERATIONS >= 4096
    assert len(salt) == 16 and len(stored_key) == 32 and len(server_key) == 32
    expected = scram_sha256_keys("pencil", salt, iterations)
    assert (expected.stored_key, expected.server_key) == (stored_key, server_key)


def test_scram_decoy_for_names_without_password(tmp_path: Path) -> None:
    """RFC 5802 §9 leaves hiding accounts to the server: a name with no password
    gets keys of the same shape as a real account's, stable per name (also
    across a reopen) and made from a secret kept in auth.db."""
    with Credentials(tmp_path / "auth.db") as c:
        c.set_password("alice", "pencil")
        real = c.scram_sha256_or_decoy("alice")
        assert real == c.scram_sha256("alice")
        decoy = c.scram_sha256_or_decoy("nobody")
        assert decoy == c.scram_sha256_or_decoy("nobody")
        assert decoy[0] != c.scram_sha256_or_decoy("nobody2")[0]
        assert [len(decoy[0]), decoy[1], len(decoy[2]), len(decoy[3])] == [
            len(real[0]),
            real[1],
            32,
            32,
        ]
        secret = c.secret("scram-decoy")
    with Credentials(tmp_path / "auth.db") as c:
        assert c.scram_sha256_or_decoy("nobody") == decoy
        assert c.secret("scram-decoy") == secret and len(secret) == 32
    with Credentials(tmp_path / "other.db") as c:  # another server: other salts
        assert c.scram_sha256_or_decoy("nobody")[0] != decoy[0]


def test_scram_rfc7677_example() -> None:
    """The exchange of RFC 7677 §3 verifies against the derived keys."""
    keys = scram_sha256_keys("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        f"r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        f"c=biws,r={nonce}"
    ).encode()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(keys.stored_key, auth_message, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == keys.stored_key
    server_signature = hmac.new(keys.server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(server_signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 §3 examples
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),
        ("\u2168", "IX"),
        ("a\u00a0b", "a b"),  # non-ASCII space -> space
    ],
)
def test_saslprep_examples(given: str, prepared: str) -> None:
    assert saslprep(given) == prepared


@pytest.mark.parametrize("bad", ["\u0007", "\u0627\u0031", "\u00ad"])
def test_saslprep_rejects(bad: str) -> None:
    with pytest.raises(CredentialsError):
        saslprep(bad)


def test_equivalent_spellings_verify() -> None:
    encoded = scrypt_hash("I\u00adX\u2168")
    assert scrypt_verify("IXIX", encoded)
    assert not scrypt_verify("\u0007", encoded)


def test_malformed_stored_hash() -> None:
    with pytest.raises(CredentialsError):
        scrypt_verify("x", "$scrypt$garbage")
