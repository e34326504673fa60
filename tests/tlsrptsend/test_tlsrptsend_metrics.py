"""Outgoing TLS reports sent and failed are counted (postel.metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_tlsrptsend_send import Fakes, make
from tlsrptsend_data import DAY, record_day

from postel.metrics import runtime
from postel.metrics.scrape import LiveSources, exposition
from postel.tlsrptresultdb import ResultDB


@pytest.fixture
def db(tmp_path: Path) -> ResultDB:
    d = ResultDB.open(tmp_path / "r.db")
    record_day(d)
    return d


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()


def reports(path: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition(path, LiveSources()).decode()):
        for s in family.samples:
            if s.name == "postel_tlsrpt_reports_total":
                out[s.labels["result"]] = s.value
    return out


async def test_sent_and_failed_reports_are_counted(
    db: ResultDB, fakes: Fakes, metrics: Path
) -> None:
    async def broken(mail_from: str, rcpt: str, message: bytes) -> None:
        if rcpt == "reports@hosting.example":
            raise OSError("disk full")
        await fakes.enqueue(mail_from, rcpt, message)

    sender = make(db, fakes)
    sender.enqueue = broken
    outcomes = await sender.run()
    statuses = [o.status for o in outcomes]
    # a.example sent; the keys reported to reports@hosting.example failed.
    assert statuses.count("sent") == 1 and statuses.count("failed") >= 1
    assert reports(metrics) == {"sent": 1, "failed": statuses.count("failed")}


async def test_dry_run_counts_nothing(db: ResultDB, fakes: Fakes, metrics: Path) -> None:
    await make(db, fakes).send_day(DAY, dry_run=True)
    assert reports(metrics) == {}
