"""Loading private keys named in the configuration."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from postel.errors import InputError


class KeyFileError(InputError):
    pass


def load_private_key(path: Path, algorithm: str | None = None) -> PrivateKeyTypes:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key: {exc}") from exc
    if algorithm == "ed25519" and not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path}: expected an ed25519 key")
    if algorithm == "rsa" and not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path}: expected an RSA key")
    if algorithm is None and not isinstance(
        key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
    ):
        raise KeyFileError(f"{path}: unsupported key type")
    return key
