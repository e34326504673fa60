"""How long a login attempt has to wait (pure): free failures, then a delay
that doubles with every further failure, up to a maximum."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """The limiter's numbers (postel.toml ``[login_limit]``; docs/login-limits.md)."""

    # Failures of one account from one client before the delays start.
    free_per_client_account: int = 5
    # Failures from one client, whatever the accounts.
    free_per_client: int = 20
    # Failures of one account from all clients; not applied to a client that
    # logged in to the account within *trusted_for* seconds.
    free_per_account: int = 100
    # Delay after the first failure beyond the free ones; doubled per failure.
    first_delay: float = 1.0
    max_delay: float = 300.0
    # Failures older than this are forgotten.
    window: float = 3600.0
    trusted_for: float = 30 * 86400.0
    # Most failure records kept (the oldest go first).
    max_records: int = 100_000


@dataclass(frozen=True)
class Count:
    """Recent failures (attempts still being checked included) under one key."""

    failures: int
    latest: float  # time of the latest, 0 when none
    free: int


def delay(failures: int, free: int, first: float, most: float) -> float:
    """Seconds to wait after the latest of *failures* before the next attempt."""
    if failures < free:
        return 0.0
    return min(most, first * 2.0 ** min(failures - free, 64))


def wait(counts: list[Count], settings: Settings, now: float) -> float:
    """Seconds until the next attempt may be checked; 0: now."""
    out = 0.0
    for c in counts:
        d = delay(c.failures, c.free, settings.first_delay, settings.max_delay)
        if d > 0:
            out = max(out, c.latest + d - now)
    return out
