"""The queue records each recipient's delivery result (postel.metrics) and
reports its size and held entries for the scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from queue_env import QEnv, ok, perm, temp

from postel.delivery import DeliveryRequest, RecipientOutcome
from postel.metrics import runtime
from postel.metrics.scrape import LiveSources, exposition


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()


def deliveries(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition(path, LiveSources()).decode()):
        for s in family.samples:
            if s.name == "postel_deliveries_total":
                out[s.labels["result"]] = s.value
    return out


def by_domain(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
    return {"ok.test": ok, "perm.test": perm}.get(req.domain, temp)(req, rcpt)


async def test_delivery_results_are_counted(qenv: QEnv, metrics: Path) -> None:
    qenv.deliverer.decide = by_domain
    q = qenv.queue()
    await q.add(
        "alice",
        "alice@example.org",
        ["a@ok.test", "b@ok.test", "c@perm.test", "d@later.test"],
        qenv.message_file(),
    )
    assert q.counts() == (4, 0)
    await q.run_due()
    assert deliveries(metrics) == {"delivered": 2, "failed": 1, "deferred": 1}
    assert q.counts() == (1, 0)  # d@later.test waits for its retry


async def test_counts_held_entries(qenv: QEnv) -> None:
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["a@x.test", "b@y.test"], qenv.message_file())
    first = q.db.entries()[0]
    q.db.set_hold(first.id, True)
    assert q.counts() == (2, 1)
