"""RequestClock: head, body rate and whole-request deadlines (pure logic)."""

from __future__ import annotations

from postel.web.requestdeadline import Deadlines, RequestClock

LIMITS = Deadlines(head=30, body=20, min_body_rate=1000, request=600)


def test_head_deadline() -> None:
    clock = RequestClock(LIMITS, start=100)
    assert clock.due() == 130
    assert clock.late(129.9) is None
    assert clock.late(130) == "head"


def test_body_must_keep_up_with_the_minimum_rate() -> None:
    clock = RequestClock(LIMITS, start=100)
    clock.head_received(110)
    assert clock.due() == 130  # 20 s of allowance
    clock.body_received(50_000)
    assert clock.due() == 180  # plus 50 s for 50,000 bytes at 1,000 a second
    assert clock.late(179) is None
    assert clock.late(180) == "body rate"


def test_whole_request_deadline_holds_whatever_the_rate() -> None:
    clock = RequestClock(LIMITS, start=100)
    clock.head_received(101)
    clock.body_received(10**9)
    assert clock.due() == 700
    assert clock.late(700) == "request"


def test_no_minimum_rate() -> None:
    clock = RequestClock(Deadlines(min_body_rate=0, request=60), start=0)
    clock.head_received(1)
    assert clock.due() == 60 and clock.late(59) is None


def test_rate_restarts_when_the_server_stopped_reading() -> None:
    clock = RequestClock(LIMITS, start=100)
    clock.head_received(100)
    clock.body_received(5_000)
    clock.restart_rate(200)
    assert clock.body_bytes == 0 and clock.due() == 220
