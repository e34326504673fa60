"""SASL mechanisms, protocol-neutral: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 7677).

Used by SMTP AUTH (RFC 4954) and IMAP AUTHENTICATE (RFC 9051 §6.2.2); each
protocol wraps the messages in its own framing (base64 lines)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from postel.errors import InputError


class SASLError(InputError):
    """A malformed SASL message (SMTP replies 501 5.5.2, IMAP a tagged BAD)."""


def decode_b64(text: str) -> bytes:
    """Base64 as in SMTP AUTH (RFC 4954 §4) and IMAP (RFC 9051 §6.2.2); ``=`` alone
    is an empty (initial) response."""
    text = text.strip()
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SASLError(f"invalid base64: {exc}") from exc


def decode_plain(text: str) -> tuple[str, str, str]:
    """(authzid, authcid, password) from a base64 PLAIN response (RFC 4616 §2)."""
    raw = decode_b64(text)
    parts = raw.split(b"\0")
    if len(parts) != 3:
        raise SASLError("PLAIN response must have three NUL-separated fields")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise SASLError(f"PLAIN response is not UTF-8: {exc}") from exc
    if not authcid or not password:
        raise SASLError("PLAIN response with empty user name or password")
    return authzid, authcid, password


def decode_text(text: str) -> str:
    """A base64 UTF-8 string (LOGIN user name / password)."""
    try:
        return decode_b64(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SASLError(f"not UTF-8: {exc}") from exc


LOGIN_USERNAME = base64.b64encode(b"Username:").decode()
LOGIN_PASSWORD = base64.b64encode(b"Password:").decode()


def _scram_name(value: str) -> str:
    # RFC 5802 §5.1: "=2C" is ",", "=3D" is "="; any other "=" is an error.
    out = value.replace("=2C", ",").replace("=3D", "\0")
    if "=" in out:
        raise SASLError("invalid escape in SCRAM user name")
    return out.replace("\0", "=")


def _attributes(message: str) -> list[tuple[str, str]]:
    out = []
    for part in message.split(","):
        key, eq, value = part.partition("=")
        if len(key) != 1 or not eq:
            raise SASLError(f"invalid SCRAM attribute {part!r}")
        out.append((key, value))
    return out


class ScramServer:
    """The server side of SCRAM-SHA-256 (RFC 5802 §5, RFC 7677), without channel binding."""

    def __init__(self, client_first: str) -> None:
        gs2, sep, bare = client_first.partition(",")
        authzid, sep2, bare = bare.partition(",")
        if not sep or not sep2 or gs2 not in ("n", "y"):
            raise SASLError("SCRAM: unsupported or invalid GS2 header (no channel binding)")
        if authzid and not authzid.startswith("a="):
            raise SASLError("SCRAM: invalid authzid")
        self.gs2_header = f"{gs2},{authzid},"
        self.client_first_bare = bare
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise SASLError("SCRAM: client-first-message needs n= and r=")
        if attrs[0][1].startswith("m") or any(k == "m" for k, _ in attrs):
            raise SASLError("SCRAM: mandatory extensions not supported")
        self.username = _scram_name(attrs[0][1])
        self.authzid = _scram_name(authzid[2:]) if authzid else ""
        self.client_nonce = attrs[1][1]
        self.nonce = ""
        self.server_first = ""

    def first(self, salt: bytes, iterations: int) -> str:
        self.nonce = self.client_nonce + base64.b64encode(os.urandom(18)).decode()
        self.server_first = f"r={self.nonce},s={base64.b64encode(salt).decode()},i={iterations}"
        return self.server_first

    def final(self, client_final: str, stored_key: bytes, server_key: bytes) -> str | None:
        """The server-final-message (``v=...``) if the proof is right, else None."""
        without_proof, sep, proof_attr = client_final.rpartition(",p=")
        if not sep:
            raise SASLError("SCRAM: client-final-message without proof")
        attrs = dict(_attributes(without_proof))
        if attrs.get("r") != self.nonce:
            raise SASLError("SCRAM: nonce mismatch")
        if attrs.get("c") != base64.b64encode(self.gs2_header.encode()).decode():
            raise SASLError("SCRAM: channel binding data mismatch")
        proof = decode_b64(proof_attr)
        auth_message = ",".join((self.client_first_bare, self.server_first, without_proof))
        signature = hmac.new(stored_key, auth_message.encode(), hashlib.sha256).digest()
        if len(proof) != len(signature):
            return None
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            return None
        server_sig = hmac.new(server_key, auth_message.encode(), hashlib.sha256).digest()
        return "v=" + base64.b64encode(server_sig).decode()
