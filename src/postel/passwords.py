"""Generated passwords; hashing lives in postel.store.passwords."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(length: int = 20) -> str:
    """A random password of unambiguous letters and digits (~115 bits for 20)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
