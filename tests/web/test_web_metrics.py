"""The web listeners' requests (HTTPMetrics middleware) and admin logins by
result are counted (postel.metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from webtestlib import Instance, login

from postel.metrics import runtime
from postel.metrics.scrape import LiveSources, exposition

Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()


def scrape(path: Path) -> Found:
    out: Found = {}
    for family in text_string_to_metric_families(exposition(path, LiveSources()).decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(found: Found, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_and_logins_are_counted(instance: Instance, metrics: Path) -> None:
    with TestClient(instance.app()) as c:
        for _ in range(5):
            assert login(c, "nope-nope").status_code == 401
        assert login(c, "postelpostel").status_code == 429
    found = scrape(metrics)
    auth = "postel_authentications_total"
    assert get(found, auth, protocol="http", result="failure") == 5
    assert get(found, auth, protocol="http", result="ratelimited") == 1
    count = "postel_command_duration_seconds_count"
    assert get(found, count, protocol="http", command="POST", result="4xx") == 6
    assert get(found, count, protocol="http", command="GET", result="2xx") >= 1  # login form


def test_successful_login(instance: Instance, metrics: Path) -> None:
    with TestClient(instance.app()) as c:
        assert login(c, "postelpostel").status_code == 200
    found = scrape(metrics)
    assert get(found, "postel_authentications_total", protocol="http", result="success") == 1
