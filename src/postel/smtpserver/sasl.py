"""SASL for SMTP AUTH (RFC 4954): the mechanisms live in postel.sasl, shared with IMAP."""

from postel.sasl.mechanisms import (
    LOGIN_PASSWORD,
    LOGIN_USERNAME,
    SASLError,
    ScramServer,
    decode_b64,
    decode_plain,
    decode_text,
)

__all__ = [
    "LOGIN_PASSWORD",
    "LOGIN_USERNAME",
    "SASLError",
    "ScramServer",
    "decode_b64",
    "decode_plain",
    "decode_text",
]
