"""SASL message decoding for SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN."""

from __future__ import annotations

import base64
import binascii


class SASLError(Exception):
    """A malformed SASL message (reply 501 5.5.2)."""


def decode_b64(text: str) -> bytes:
    """Base64 as used in AUTH (RFC 4954 §4); ``=`` alone is an empty response."""
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
