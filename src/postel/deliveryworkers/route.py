"""Which delivery worker delivers to a recipient domain (pure).

A stable hash (CRC-32 of the lower-cased domain), not Python's hash(), which
differs between processes and runs: every message to one destination goes to
the same worker, so that worker's idle connections to it
(postel.smtpclient.scache) and its cached DNS answers are used again.
"""

from __future__ import annotations

import zlib


def worker_for(domain: str, count: int) -> int:
    """The index (0 .. count-1) of the worker for *domain*."""
    if count < 1:
        raise ValueError("count must be at least 1")
    key = domain.rstrip(".").lower().encode("utf-8", "surrogatepass")
    return zlib.crc32(key) % count
