"""SessionStore: separate budgets for anonymous and logged-in sessions, per client
and per user, least recently used first, and expiry."""

from __future__ import annotations

import time

from postel.web.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_anonymous_flood_from_one_client_evicts_only_its_own() -> None:
    store = SessionStore(max_anonymous=100, max_anonymous_per_client=10, max_sessions=100)
    user = store.new("alice")
    victim = store.new(client="192.0.2.7")
    for _ in range(1000):
        store.new(client="198.51.100.1")
    assert store.get(victim.id) is victim
    assert store.get(user.id) is user
    assert store.anonymous == 11


def test_anonymous_budget_full_evicts_least_recently_used_anonymous() -> None:
    clock = Clock()
    store = SessionStore(max_anonymous=3, max_anonymous_per_client=10, clock=clock)
    user = store.new("alice")
    a = store.new(client="a")
    clock.now += 1
    b = store.new(client="b")
    clock.now += 1
    c = store.new(client="c")
    clock.now += 1
    assert store.get(a.id) is a  # used again: b is now the least recently used
    store.new(client="d")
    assert store.get(b.id) is None
    assert store.get(a.id) is a and store.get(c.id) is c
    assert store.get(user.id) is user


def test_logged_in_sessions_have_their_own_budget_per_user() -> None:
    store = SessionStore(max_sessions=5, max_per_user=2, max_anonymous=1)
    bob = store.new("bob")
    first = store.new("alice")
    second = store.new("alice")
    third = store.new("alice")
    assert store.get(first.id) is None
    assert store.get(second.id) is second and store.get(third.id) is third
    assert store.get(bob.id) is bob
    for _ in range(10):
        store.new(client="x")
    assert store.get(bob.id) is bob and store.get(third.id) is third


def test_login_replaces_the_anonymous_session() -> None:
    store = SessionStore()
    anon = store.new(client="192.0.2.1")
    s = store.login(anon, "alice")
    assert store.get(anon.id) is None
    assert store.get(s.id) is s and s.user == "alice" and s.csrf != anon.csrf
    assert store.anonymous == 0 and len(store) == 1
    store.delete(s.id)
    assert store.get(s.id) is None and len(store) == 0


def test_idle_and_absolute_expiry() -> None:
    clock = Clock()
    store = SessionStore(idle=10, max_age=25, clock=clock)
    s = store.new("alice")
    idle = store.new(client="192.0.2.1")
    for _ in range(3):
        clock.now += 8
        assert store.get(s.id) is s
    assert store.get(idle.id) is None  # idle for 24 s
    clock.now += 8
    assert store.get(s.id) is None  # 32 s old
    assert len(store) == 0


def test_idle_sessions_are_dropped_when_new_ones_come() -> None:
    clock = Clock()
    store = SessionStore(idle=10, clock=clock)
    for i in range(100):
        store.new(client=f"192.0.2.{i}")
    clock.now += 11
    store.new(client="192.0.2.200")
    assert store.anonymous == 1


def test_new_session_in_a_full_store_costs_no_sort() -> None:
    store = SessionStore(max_anonymous=50_000, max_anonymous_per_client=50_000)
    for _ in range(50_000):
        store.new(client="198.51.100.1")
    started = time.perf_counter()
    for _ in range(5_000):
        store.new(client="198.51.100.1")
    # A sort of 50,000 sessions per new one took seconds for these 5,000.
    assert time.perf_counter() - started < 0.5
