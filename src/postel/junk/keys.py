"""The key a feature is stored under (pure): the first 64 bits of its BLAKE2b
hash as a signed integer, so that the token tables of junk.db and of
PostgreSQL (a bigint) hold integers, not text: smaller rows, integer
comparisons. Stable across processes and nodes; two features sharing a key
(about one pair in 2**64) would share their counts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def feature_key(feature: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little", signed=True
    )


def feature_keys(features: Iterable[str]) -> dict[int, str]:
    """key -> feature of each of *features* (a key shared by two keeps one)."""
    b2b, from_bytes = hashlib.blake2b, int.from_bytes  # feature_key, inlined: per miss
    return {
        from_bytes(b2b(f.encode(), digest_size=8).digest(), "little", signed=True): f
        for f in features
    }
