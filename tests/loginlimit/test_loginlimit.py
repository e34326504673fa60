"""postel.loginlimit: keys, the delay policy, and the limiter's shared state in
auth.db (threads and processes counting the same attempts)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import postel
from postel.loginlimit import (
    ADMIN,
    LimiterUnavailable,
    LoginLimiter,
    Settings,
    TooManyAttempts,
    account_key,
    client_key,
)
from postel.loginlimit.policy import Count, delay, wait


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(tmp_path: Path, **kw: float) -> tuple[LoginLimiter, Clock]:
    clock = Clock()
    return LoginLimiter(tmp_path / "auth.db", Settings(**kw), clock=clock), clock  # type: ignore[arg-type]


def fail(lim: LoginLimiter, host: str, account: str) -> None:
    lim.reserve_sync(host, account)  # not succeeded: stays a failure


def refused(lim: LoginLimiter, host: str, account: str) -> float:
    with pytest.raises(TooManyAttempts) as info:
        lim.reserve_sync(host, account)
    return info.value.retry_after


# -- keys and policy (pure) ------------------------------------------------------------


def test_client_key_ipv4_ipv6_64_and_mapped() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("192.0.2.1") == client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key(None) == "?"


def test_account_keys_keep_unknown_names_apart() -> None:
    assert account_key("alice", "Alice@Example.org") == "a:alice"
    assert account_key(None, "Alice@Example.org") == "u:alice@example.org"
    # A made-up name that looks like an account key or the admin never is one.
    assert account_key(None, "a:alice") != account_key("alice", "alice")
    assert account_key(None, "admin:") != ADMIN
    assert len(account_key(None, "x" * 10_000)) <= 322


def test_delay_doubles_after_free_failures_up_to_max() -> None:
    assert [delay(n, 5, 1.0, 300.0) for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert delay(10_000, 5, 1.0, 300.0) == 300.0
    counts = [Count(5, 100.0, 5), Count(3, 100.0, 20), Count(200, 90.0, 100)]
    # The longest wait of all keys: 2**100 capped at 300 s after t=90.
    assert wait(counts, Settings(), 100.0) == 290.0
    assert wait([Count(4, 100.0, 5)], Settings(), 100.0) == 0.0


# -- the limiter over auth.db ------------------------------------------------------------


def test_backoff_per_client_and_account(tmp_path: Path) -> None:
    lim, clock = limiter(tmp_path)
    for _ in range(5):
        fail(lim, "192.0.2.1", "a:alice")
    assert refused(lim, "192.0.2.1", "a:alice") == 1.0
    clock.now += 1
    fail(lim, "192.0.2.1", "a:alice")
    assert refused(lim, "192.0.2.1", "a:alice") == 2.0
    clock.now += 2
    fail(lim, "192.0.2.1", "a:alice")
    assert refused(lim, "192.0.2.1", "a:alice") == 4.0
    # Refused attempts are not counted: waiting out the delay is enough.
    for _ in range(50):
        refused(lim, "192.0.2.1", "a:alice")
    clock.now += 4
    fail(lim, "192.0.2.1", "a:alice")
    # Another client is not slowed down by this one: the real user elsewhere logs in.
    lim.succeeded_sync(lim.reserve_sync("198.51.100.7", "a:alice"))
    # After the window everything is forgotten.
    clock.now += 3601
    lim.reserve_sync("192.0.2.1", "a:alice")
    lim.close()


def test_ipv6_clients_are_counted_per_64(tmp_path: Path) -> None:
    lim, _ = limiter(tmp_path)
    for i in range(5):
        fail(lim, f"2001:db8::{i + 1}", "a:alice")
    refused(lim, "2001:db8::ffff", "a:alice")
    lim.reserve_sync("2001:db8:0:1::1", "a:alice")
    lim.close()


def test_success_clears_only_that_client_and_account(tmp_path: Path) -> None:
    lim, _ = limiter(tmp_path)
    for _ in range(5):
        fail(lim, "192.0.2.1", "a:bob")
    for _ in range(4):
        fail(lim, "192.0.2.1", "a:alice")
    # alice logs in from the same address: bob's failures stay.
    lim.succeeded_sync(lim.reserve_sync("192.0.2.1", "a:alice"))
    refused(lim, "192.0.2.1", "a:bob")
    # alice's own failures are gone: 5 free again.
    for _ in range(5):
        fail(lim, "192.0.2.1", "a:alice")
    refused(lim, "192.0.2.1", "a:alice")
    lim.close()


def test_per_client_limit_across_accounts(tmp_path: Path) -> None:
    lim, _ = limiter(tmp_path)
    for i in range(20):
        fail(lim, "192.0.2.1", f"u:user{i}@example.org")
    refused(lim, "192.0.2.1", "u:another@example.org")
    refused(lim, "192.0.2.1", "a:alice")  # a real account from that client too
    lim.reserve_sync("192.0.2.2", "a:alice")
    lim.close()


def test_per_account_limit_spares_trusted_clients(tmp_path: Path) -> None:
    lim, clock = limiter(tmp_path)
    lim.succeeded_sync(lim.reserve_sync("198.51.100.7", "a:alice"))  # alice's usual client
    for i in range(100):  # a distributed guess: 100 clients, one try each
        fail(lim, f"203.0.113.{i}", "a:alice")
    assert refused(lim, "192.0.2.99", "a:alice") == 1.0  # a new client waits
    # The client alice used before is not held back by the others' failures.
    lim.succeeded_sync(lim.reserve_sync("198.51.100.7", "a:alice"))
    # Trust ends after trusted_for.
    clock.now += 30 * 86400 + 1
    for i in range(100):
        fail(lim, f"203.0.113.{i}", "a:alice")
    refused(lim, "198.51.100.7", "a:alice")
    lim.close()


def test_concurrent_attempts_are_counted_before_any_check(tmp_path: Path) -> None:
    """60 threads guessing at once: each reservation sees the earlier ones, so only
    the free five get to a password check."""
    lim = LoginLimiter(tmp_path / "auth.db")
    start = threading.Barrier(60)
    out: list[str] = []

    def guess() -> None:
        start.wait()
        try:
            lim.reserve_sync("192.0.2.1", "a:alice")
            time.sleep(0.05)  # the password check, as slow as scrypt
            out.append("checked")
        except TooManyAttempts:
            out.append("refused")

    threads = [threading.Thread(target=guess) for _ in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(out).count("checked") == 5 and len(out) == 60
    lim.close()


CHILD = """
import json, sys, time
from pathlib import Path
from postel.loginlimit import LoginLimiter, TooManyAttempts
path, start = Path(sys.argv[1]), float(sys.argv[2])
lim = LoginLimiter(path)
lim.reserve_sync("127.0.0.2", "a:warmup")  # opens and migrates before the start
while time.time() < start:
    time.sleep(0.001)
checked = 0
for _ in range(20):
    try:
        lim.reserve_sync("192.0.2.1", "a:alice")
        checked += 1
    except TooManyAttempts:
        pass
print(json.dumps(checked))
"""


def test_state_is_shared_between_processes(tmp_path: Path) -> None:
    """Four processes (like SMTP workers) guessing from one client at once: 5
    attempts are checked in all, not 5 per process."""
    path = tmp_path / "auth.db"
    LoginLimiter(path).close()
    env = dict(os.environ, PYTHONPATH=str(Path(postel.__file__).parents[1]))
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(start)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(4)
    ]
    counts = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        counts.append(json.loads(out))
    assert sum(counts) == 5, counts


def test_records_are_bounded(tmp_path: Path) -> None:
    lim, clock = limiter(tmp_path, max_records=50, free_per_client=10_000)
    for i in range(300):
        fail(lim, f"192.0.2.{i % 250}", f"u:n{i}")
        clock.now += 0.001
    lim.close()
    conn = sqlite3.connect(tmp_path / "auth.db")
    n = conn.execute("SELECT count(*) FROM login_failure").fetchone()[0]
    conn.close()
    # Pruned every 100 reservations down to the newest 50.
    assert n <= 150


def test_database_failure_refuses(tmp_path: Path) -> None:
    (tmp_path / "auth.db").mkdir()  # not a database
    lim = LoginLimiter(tmp_path / "auth.db")
    with pytest.raises(LimiterUnavailable, match=r"auth\.db"):
        lim.reserve_sync("192.0.2.1", "a:alice")
