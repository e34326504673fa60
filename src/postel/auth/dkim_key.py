"""DKIM key material: dkimpy private-key form and the public key TXT record (RFC 6376 §3.6.1)."""

from __future__ import annotations

import base64
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from postel.auth.errors import DKIMKeyError

SigningKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def key_algorithm(key: PrivateKeyTypes) -> Literal["ed25519", "rsa"]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    raise DKIMKeyError(f"unsupported DKIM key type {type(key).__name__}: use ed25519 or rsa")


def dkimpy_private_key(key: PrivateKeyTypes) -> bytes:
    """The form dkimpy signs with: base64 ed25519 seed, or PKCS#1 PEM for RSA."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    raise DKIMKeyError(f"unsupported DKIM key type {type(key).__name__}: use ed25519 or rsa")


def public_key_record(key: PrivateKeyTypes) -> str:
    """TXT value for ``<selector>._domainkey.<domain>``: ``v=DKIM1; k=...; p=...``."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # RFC 8463 §4.2: the raw 32-byte public key.
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode("ascii")
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode("ascii")
    raise DKIMKeyError(f"unsupported DKIM key type {type(key).__name__}: use ed25519 or rsa")
