"""Schema of mtasts.db: one cached policy per recipient domain (docs/mta-sts.md, The cache)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE policy (
        domain TEXT PRIMARY KEY,          -- A-labels, lower case, no trailing dot
        inserted TEXT NOT NULL,           -- ISO 8601 UTC
        valid_end TEXT NOT NULL,          -- last_update + max_age (RFC 8461 §3.2)
        last_update TEXT NOT NULL,        -- last successful fetch (or backoff start)
        last_use TEXT NOT NULL,
        backoff INTEGER NOT NULL,         -- 1: first fetch failed, stored as mode none
        record_id TEXT NOT NULL,
        policy TEXT NOT NULL,             -- JSON of postel.mtasts.Policy
        policy_text TEXT NOT NULL,        -- as served
        failure_type TEXT NOT NULL DEFAULT '',   -- RFC 8460 result type of a failed fetch
        failure_text TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX policy_last_use ON policy (last_use);
    """,
]
