"""kill -9 of `postel serve` while its queue delivers: after the restart every
queued message reaches the receiving MX at least once, none is lost."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import benchlib
import pytest
from dnsstub import dest_ip
from outbound import DOMAINS, fill_postel

from postel.config.model import DeliveryConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 200


@contextlib.contextmanager
def logging_sink(port: int, log: Path) -> Iterator[None]:
    """bench/sink.py: accepts everything, appends each Message-ID to *log*."""
    # Each domain's MX has its own address (bench/dnsstub.py): listen on all.
    ips = [dest_ip(d) for d in range(DOMAINS)]
    sink = [sys.executable, str(benchlib.REPO / "bench" / "sink.py"), str(port)]
    proc = subprocess.Popen(
        [*sink, "--log", str(log), "--ips", ",".join(ips)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for ip in ips:
            benchlib.wait_port(port, ip=ip)
        yield
    finally:
        proc.terminate()
        proc.wait(5)


def received(log: Path) -> Counter[str]:
    if not log.exists():
        return Counter()
    return Counter(line for line in log.read_text().splitlines() if line)


def queued(data: Path) -> int:
    with sqlite3.connect(f"file:{data / 'queue' / 'index.db'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM entry").fetchone()[0])


def wait_for(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_kill9_during_outbound_delivery(
    tmp_path: Path, dns_port: int, certs: benchlib.Certs
) -> None:
    sink_port = benchlib.free_port()
    log = tmp_path / "received.log"
    with logging_sink(sink_port, log):
        postel = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_port=sink_port)
        postel.write_config()
        fill_postel(postel, N)
        assert queued(postel.data) == N
        try:
            for kill_at in (N // 4, N // 2):
                # Not waiting for the SMTP port: the queue delivers while the SMTP
                # workers start, and the kill must come in the middle of that.
                postel.start(wait=False)
                wait_for(lambda k=kill_at: sum(received(log).values()) >= k, 60, "deliveries")
                postel.kill9()
                left = queued(postel.data)
                assert left > 0, "the queue was already empty: kill came too late"
            postel.start()
            wait_for(lambda: queued(postel.data) == 0, 60, "queue empty after restart")
        finally:
            postel.stop()
    got = received(log)
    expected = {f"out-{i}@bench.test" for i in range(N)}
    lost = expected - set(got)
    assert not lost, f"{len(lost)} queued messages never delivered, e.g. {sorted(lost)[:5]}"
    assert set(got) <= expected
    # At least once: a message in flight at a kill (delivered, its removal not
    # yet committed) may arrive again, at most as many per kill as can be in
    # flight: destination_concurrency per destination domain.
    in_flight = DeliveryConfig().destination_concurrency * DOMAINS
    assert sum(got.values()) - N <= 2 * in_flight
