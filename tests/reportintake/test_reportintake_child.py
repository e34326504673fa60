"""Report intake in a child process: off the caller's event loop, under a hard budget."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import reportbombs

from postel.datadir import DataDir
from postel.reportintake import ChildLimits, Status, intake


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    d = DataDir(tmp_path / "data")
    d.ensure()
    return d


def deliver(datadir: DataDir, data: bytes) -> Path:
    path = datadir.account_dir("reports") / "msg" / "0" / "1"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def test_the_parse_costs_the_caller_no_cpu(datadir: DataDir) -> None:
    """The largest valid report costs this process (the SMTP worker) next to nothing."""
    path = deliver(datadir, reportbombs.dmarc_distinct_records(5000))
    cpu0 = time.process_time()
    res = await intake(datadir, "dmarc", path, "dmarc@example.com")
    cpu = time.process_time() - cpu0
    assert res.status is Status.STORED, res
    assert cpu < 0.15, f"{cpu:.3f} s of CPU in the calling process"


async def test_memory_budget_stops_the_child(datadir: DataDir) -> None:
    # 11 MB of JSON, attached uncompressed: parsing the 15 MB message needs far more than 96 MB.
    big = b'{"x": "' + b"a" * (11 * 1024 * 1024) + b'"}'
    path = deliver(datadir, reportbombs.report_mail([big], tlsrpt=True))
    limits = ChildLimits(max_address_space=96 * 1024 * 1024)
    res = await intake(datadir, "tlsrpt", path, "tlsrpt@example.com", limits=limits)
    assert res.status is Status.UNPARSEABLE
    assert res.error == "report intake stopped: memory budget of 96 MB exceeded"


async def test_wall_clock_deadline_stops_the_child(datadir: DataDir) -> None:
    path = deliver(datadir, reportbombs.dmarc_distinct_records(10))
    limits = ChildLimits(timeout=0.01)
    res = await intake(datadir, "dmarc", path, "dmarc@example.com", limits=limits)
    assert res.status is Status.UNPARSEABLE
    assert res.error == "report intake stopped: took longer than 0.01 s"


async def test_child_result_round_trips(datadir: DataDir) -> None:
    """Everything the child found comes back: ids, organisation, warnings."""
    path = deliver(datadir, reportbombs.dmarc_distinct_records(3))
    res = await intake(datadir, "dmarc", path, "dmarc@example.com")
    again = await intake(datadir, "dmarc", path, "dmarc@example.com")
    assert res.status is Status.STORED and again.status is Status.DUPLICATE
    assert res.db_id is not None and again.db_id == res.db_id
    assert res.organization == "reporter.example" and res.report_id == "1"
    assert json.dumps(res.warnings)  # a list of strings
