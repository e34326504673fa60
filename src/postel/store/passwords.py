"""Password hashing (pure): scrypt for verification, SCRAM-SHA-256 keys.

Passwords are prepared with SASLprep (RFC 4013, profile of RFC 3454) so that
the same string gives the same keys in SCRAM (RFC 5802 §2.2) and in PLAIN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata
from dataclasses import dataclass

from postel.store.errors import CredentialsError

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_LEN = 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_LEN = 16
SCRAM_ITERATIONS = 16384  # RFC 7677 §4: at least 4096
SCRYPT_PREFIX = "$scrypt$"


def saslprep(password: str) -> str:
    """RFC 4013 §2: map, normalise (NFKC), prohibit, check bidi."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    text = unicodedata.normalize("NFKC", mapped)
    if not text:
        raise CredentialsError("password is empty after SASLprep")
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    for i, c in enumerate(text):
        if any(check(c) for check in prohibited):
            raise CredentialsError(
                f"password has a prohibited character U+{ord(c):04X} at offset {i} (RFC 4013 §2.3)"
            )
    # RFC 3454 §6: bidirectional text rules.
    if any(stringprep.in_table_d1(c) for c in text):
        if any(stringprep.in_table_d2(c) for c in text):
            raise CredentialsError("password mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])):
            raise CredentialsError("right-to-left password must start and end with RTL")
    return text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scrypt_hash(password: str, salt: bytes | None = None) -> str:
    """Encode *password* as "$scrypt$ln=14,r=8,p=1$<salt>$<hash>"."""
    salt = os.urandom(SALT_LEN) if salt is None else salt
    digest = hashlib.scrypt(
        saslprep(password).encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=SCRYPT_LEN,
    )
    ln = SCRYPT_N.bit_length() - 1
    return f"{SCRYPT_PREFIX}ln={ln},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def scrypt_verify(password: str, encoded: str) -> bool:
    """Constant-time check of *password* against :func:`scrypt_hash` output."""
    try:
        _, _, params, salt_b64, hash_b64 = encoded.split("$")
        fields = dict(p.split("=", 1) for p in params.split(","))
        n, r, p = 2 ** int(fields["ln"]), int(fields["r"]), int(fields["p"])
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
    except (ValueError, KeyError) as exc:
        raise CredentialsError(f"malformed scrypt hash: {exc}") from exc
    try:
        prepared = saslprep(password).encode("utf-8")
    except CredentialsError:
        prepared = b""  # cannot match; still spend the time
    digest = hashlib.scrypt(
        prepared, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=len(expected)
    )
    return hmac.compare_digest(digest, expected) and bool(prepared)


@dataclass(frozen=True)
class ScramKeys:
    """RFC 5802 §3: what a server stores for SCRAM."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def scram_sha256_keys(
    password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> ScramKeys:
    """SaltedPassword = Hi(password, salt, i); StoredKey = H(HMAC(SP, "Client Key"));
    ServerKey = HMAC(SP, "Server Key") (RFC 5802 §3, RFC 7677 §3)."""
    salt = os.urandom(SALT_LEN) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ScramKeys(salt, iterations, stored_key, server_key)


def scram_decoy(secret: bytes, name: str, iterations: int) -> tuple[bytes, int, bytes, bytes]:
    """(salt, iterations, StoredKey, ServerKey) for a name with no password: the
    salt is the same for the same name every time, of the same length as a real
    one, and unpredictable without *secret*; the keys match no password."""

    def derive(label: bytes) -> bytes:
        return hmac.new(
            secret, label + b"\0" + name.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).digest()

    return derive(b"salt")[:SALT_LEN], iterations, derive(b"stored"), derive(b"server")
