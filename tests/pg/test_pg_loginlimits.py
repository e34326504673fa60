"""The login limiter across limiters that share their counts: two processes of
one node on auth.db (SQLite), two nodes on the PostgreSQL store. A password
guesser spread over the nodes is throttled as on one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pghelpers import open_migrated

from postel.loginlimit import LimiterUnavailable, LoginLimiter, Settings, TooManyAttempts
from postel.pg.loginlimits import PgLoginLimits
from postel.pg.settings import PgSettings

SETTINGS = Settings(free_per_client_account=3, free_per_client=5, free_per_account=8)
GUESSER = "192.0.2.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[LoginLimiter, LoginLimiter, Clock]]:
    """Two limiters counting the same attempts, with one clock."""
    clock = Clock()
    if request.param == "sqlite":
        a = LoginLimiter(tmp_path / "auth.db", SETTINGS, clock)
        b = LoginLimiter(tmp_path / "auth.db", SETTINGS, clock)
        yield a, b, clock
        a.close()
        b.close()
        return
    settings: PgSettings = request.getfixturevalue("pg_settings")
    one, two = await open_migrated(settings), await open_migrated(settings)
    a = LoginLimiter(
        tmp_path / "a" / "auth.db", SETTINGS, clock, shared=PgLoginLimits(one, settings.where)
    )
    b = LoginLimiter(
        tmp_path / "b" / "auth.db", SETTINGS, clock, shared=PgLoginLimits(two, settings.where)
    )
    try:
        yield a, b, clock
    finally:
        a.close()
        b.close()
        await one.close()
        await two.close()


async def test_failures_on_one_count_on_the_other(
    pair: tuple[LoginLimiter, LoginLimiter, Clock],
) -> None:
    a, b, clock = pair
    for _ in range(3):  # the free failures of one account from one client, on A
        await a.reserve(GUESSER, "a:alice")
    with pytest.raises(TooManyAttempts) as info:
        await b.reserve(GUESSER, "a:alice")
    assert info.value.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    await b.reserve(GUESSER, "a:alice")  # the delay passed: counted on B
    with pytest.raises(TooManyAttempts) as info:
        await a.reserve(GUESSER, "a:alice")
    assert info.value.retry_after == pytest.approx(2.0)  # doubled by B's failure
    # Another client is not held up by this one's failures.
    await a.reserve("198.51.100.1", "a:alice")


async def test_guesses_over_accounts_from_one_client_alternating_nodes(
    pair: tuple[LoginLimiter, LoginLimiter, Clock],
) -> None:
    a, b, _ = pair
    for n in range(5):  # the free failures of one client over accounts
        await (a if n % 2 else b).reserve(GUESSER, f"u:user{n}@example.org")
    with pytest.raises(TooManyAttempts):
        await a.reserve(GUESSER, "u:another@example.org")
    with pytest.raises(TooManyAttempts):
        await b.reserve(GUESSER, "u:yet-another@example.org")


async def test_a_login_on_one_forgets_that_clients_failures_and_trusts_it_on_the_other(
    pair: tuple[LoginLimiter, LoginLimiter, Clock],
) -> None:
    a, b, clock = pair
    for _ in range(2):
        await a.reserve(GUESSER, "a:alice")
    ok = await b.reserve(GUESSER, "a:alice")
    await b.succeeded(ok)
    for _ in range(3):  # free again after the success
        await a.reserve(GUESSER, "a:alice")
    trusted = "198.51.100.9"
    await a.succeeded(await a.reserve(trusted, "a:alice"))
    # Failures of alice from many clients: the per-account count holds them up,
    # but not a client that logged in to alice (on A).
    for n in range(5):
        clock.now += 0.001
        await b.reserve(f"203.0.113.{n}", "a:alice")
    clock.now += 0.001
    with pytest.raises(TooManyAttempts):
        await a.reserve("203.0.113.200", "a:alice")
    await b.succeeded(await b.reserve(trusted, "a:alice"))


async def test_an_unreachable_database_refuses_the_attempt(
    tmp_path: Path, pg_settings: PgSettings
) -> None:
    pool = await open_migrated(pg_settings)
    limiter = LoginLimiter(
        tmp_path / "auth.db", SETTINGS, shared=PgLoginLimits(pool, pg_settings.where)
    )
    await pool.close()
    with pytest.raises(LimiterUnavailable) as info:
        await limiter.reserve(GUESSER, "a:alice")
    assert "login limiter in PostgreSQL" in str(info.value)
    assert "\n" not in str(info.value)
    limiter.close()
