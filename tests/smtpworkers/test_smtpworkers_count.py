"""Unit tests of postel.smtpworkers: process count, spec, cid slots."""

from __future__ import annotations

from postel import log
from postel.smtpworkers import worker_count
from postel.smtpworkers.spec import Spec


def test_automatic_count_is_cpus_at_most_four() -> None:
    assert worker_count(0, cpus=1) == 1
    assert worker_count(0, cpus=2) == 2
    assert worker_count(0, cpus=16) == 4
    assert worker_count(3, cpus=16) == 3
    assert worker_count(1, cpus=16) == 1


def test_spec_round_trips() -> None:
    spec = Spec("/etc/postel", 2, 1234, [("public", "smtp", "::1", 25)], log_time=False)
    assert Spec.decode(spec.encode()) == spec


def test_cid_slots_do_not_overlap() -> None:
    try:
        log.set_cid_slot(1)
        a = [log.new_cid() for _ in range(1000)]
        log.set_cid_slot(2)
        b = [log.new_cid() for _ in range(1000)]
    finally:
        log.set_cid_slot(0)
    assert {c >> 27 for c in a} == {1}
    assert {c >> 27 for c in b} == {2}
    assert log.new_cid() >> 27 == 0
