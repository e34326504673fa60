"""The web listeners' requests (HTTPMetrics middleware) and admin logins by
result are counted (postel.metrics)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient
from webtestlib import Instance, login

from metricsamples import scrape
from metricsamples import value as get


def test_requests_and_logins_are_counted(instance: Instance, metrics_dir: Path) -> None:
    with TestClient(instance.app()) as c:
        for _ in range(5):
            assert login(c, "nope-nope").status_code == 401
        assert login(c, "postelpostel").status_code == 429
    found = scrape(metrics_dir)
    auth = "postel_authentications_total"
    assert get(found, auth, protocol="http", result="failure") == 5
    assert get(found, auth, protocol="http", result="ratelimited") == 1
    count = "postel_command_duration_seconds_count"
    assert get(found, count, protocol="http", command="POST", result="4xx") == 6
    assert get(found, count, protocol="http", command="GET", result="2xx") >= 1  # login form


def test_successful_login(instance: Instance, metrics_dir: Path) -> None:
    with TestClient(instance.app()) as c:
        assert login(c, "postelpostel").status_code == 200
    found = scrape(metrics_dir)
    assert get(found, "postel_authentications_total", protocol="http", result="success") == 1
