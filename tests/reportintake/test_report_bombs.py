"""Report bombs: refused quickly, with bounded memory, per message.

Each bomb is taken in through postel.reportintake in a fresh Python process,
after one small valid report has warmed it up; the process reports the CPU
time and the growth of its peak resident memory (VmHWM) over that one intake. A bomb
must come out as unparseable, having cost under 100 MB and 1 s of CPU.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import reportbombs

import postel
from postel import dmarcrpt

MAX_GROWTH_MB = 100
MAX_CPU_S = 1.0
TIMEOUT_S = 120  # the code before the fix took up to 80 s for one of these

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"

# Runs in the child: warm up with a valid report, then take in the bomb once.
_MEASURE = """
import json, sys, time
from pathlib import Path
from postel.reportintake import intake_sync

def kib(field):  # from /proc/self/status, e.g. VmHWM:  1234 kB
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)

datadir, kind, warm, bomb = sys.argv[1:5]
assert intake_sync(datadir, kind, warm, "reports@example.com").ok
# Reset the peak to the current RSS (proc(5), clear_refs "5"): ru_maxrss would
# include the parent's peak, which a child inherits on Linux.
Path("/proc/self/clear_refs").write_text("5")
rss0 = kib("VmRSS")
cpu0 = time.process_time()
res = intake_sync(datadir, kind, bomb, "reports@example.com")
cpu = time.process_time() - cpu0
peak = kib("VmHWM")
print(json.dumps({"status": str(res.status), "error": res.error, "cpu": cpu,
                  "growth_mb": (peak - rss0) / 1024}))
"""


def _warm_report(kind: str) -> bytes:
    if kind == "dmarc":
        xml = TESTDATA / "dmarc" / "example.net!example.com!1529366400!1529452799.xml"
        return reportbombs.report_mail([gzip.compress(xml.read_bytes())], tlsrpt=False)
    raw = (TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()
    return reportbombs.report_mail([gzip.compress(raw)], tlsrpt=True)


def measure(tmp_path: Path, kind: str, mail: bytes) -> dict[str, object]:
    """Intake of *mail* in a fresh process: status, error, CPU seconds, peak RSS growth."""
    datadir = tmp_path / "data"
    warm = tmp_path / "warm.eml"
    warm.write_bytes(_warm_report(kind))
    bomb = tmp_path / "bomb.eml"
    bomb.write_bytes(mail)
    env = dict(os.environ, PYTHONPATH=str(Path(postel.__file__).resolve().parents[1]))
    try:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(datadir), kind, str(warm), str(bomb)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"intake of the bomb took more than {TIMEOUT_S} s")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


BOMBS: list[tuple[str, Callable[[], bytes]]] = [
    ("dmarc", reportbombs.dmarc_empty_elements),
    ("dmarc", reportbombs.dmarc_empty_elements_four_parts),
    ("dmarc", reportbombs.dmarc_many_failing_parts),
    ("dmarc", reportbombs.dmarc_empty_records),
    ("dmarc", reportbombs.dmarc_valid_records),
    ("dmarc", reportbombs.dmarc_deep),
    ("dmarc", reportbombs.dmarc_attributes),
    ("tlsrpt", reportbombs.tlsrpt_brackets_ten_parts),
    ("tlsrpt", reportbombs.tlsrpt_brackets_thousand_parts),
    ("tlsrpt", reportbombs.tlsrpt_numbers),
    ("tlsrpt", reportbombs.tlsrpt_many_failing_parts),
]


@pytest.mark.parametrize(("kind", "build"), BOMBS, ids=[b.__name__ for _, b in BOMBS])
def test_report_bomb_is_refused_cheaply(
    tmp_path: Path, kind: str, build: Callable[[], bytes]
) -> None:
    mail = build()
    assert len(mail) < 16 * 1024 * 1024  # within the SMTP message size limit
    m = measure(tmp_path, kind, mail)
    assert m["status"] == "unparseable", m
    assert "more than" in str(m["error"]), m  # refused by a limit, not by luck
    assert float(str(m["growth_mb"])) < MAX_GROWTH_MB, m
    assert float(str(m["cpu"])) < MAX_CPU_S, m


def test_largest_report_allowed_is_stored_within_budget(tmp_path: Path) -> None:
    """A valid report at the record limit still goes in, and within the same budget."""
    limit = dmarcrpt.DEFAULT_LIMITS.max_records
    m = measure(tmp_path, "dmarc", reportbombs.dmarc_distinct_records(limit))
    assert m["status"] == "stored", m
    assert float(str(m["growth_mb"])) < MAX_GROWTH_MB, m
    assert float(str(m["cpu"])) < MAX_CPU_S, m


def test_one_record_over_the_limit_is_refused(tmp_path: Path) -> None:
    limit = dmarcrpt.DEFAULT_LIMITS.max_records
    m = measure(tmp_path, "dmarc", reportbombs.dmarc_distinct_records(limit + 1))
    assert m["status"] == "unparseable", m
    assert f"more than {limit} records" in str(m["error"]), m
