"""[metrics] defaults and the /healthz checks of an instance."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from postel.config.model import MetricsConfig
from postel.localserve import instructions
from postel.metrics.health import evaluate
from postel.metrics.service import checks


def test_defaults_off_and_loopback() -> None:
    cfg = MetricsConfig()
    assert cfg.enabled is False
    assert cfg.ip == "127.0.0.1" and cfg.port == 9433
    with pytest.raises(ValidationError):
        MetricsConfig(ip="localhost")


@dataclass
class FakeQueue:
    alive: bool = True
    broken: bool = False

    def counts(self) -> tuple[int, int]:
        if self.broken:
            raise OSError("disk I/O error")
        return (0, 0)


@dataclass
class FakeStore:
    closed: bool = False


def test_healthy() -> None:
    report = evaluate(checks(lambda: None, FakeQueue(), FakeStore()))
    assert report.ok and report.lines == ["ok listeners", "ok queue", "ok databases"]


def test_each_part_down() -> None:
    report = evaluate(
        checks(lambda: "1 of 2 SMTP workers are up", FakeQueue(alive=False), FakeStore(True))
    )
    assert not report.ok
    assert report.lines == [
        "fail listeners: 1 of 2 SMTP workers are up",
        "fail queue: the queue's delivery loop is not running",
        "fail databases: the message store is closed",
    ]
    report = evaluate(checks(None, FakeQueue(broken=True), None))
    assert report.lines == [
        "ok queue",
        "fail databases: check failed: OSError: disk I/O error",
    ]


def test_localserve_prints_the_metrics_url() -> None:
    text = instructions([("127.0.0.1", 1025, "smtp"), ("127.0.0.1", 40123, "metrics")])
    assert "http://127.0.0.1:40123/metrics" in text
    assert "[::1]:40124/metrics" in instructions([("::1", 40124, "metrics")])
