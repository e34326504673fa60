"""Multiprocess mode: each process writes its files, a scrape sums them; the
directory is wiped at start; an exited process's live gauges go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from metricsamples import samples, value
from postel.metrics import record, runtime
from postel.metrics.scrape import LiveSources, exposition

CHILD = """
import sys
from pathlib import Path
from postel.metrics import record, runtime
runtime.enable(Path(sys.argv[1]), wipe=False)
record.connection("smtp")
record.connection_opened("smtp")
record.smtp_command("smtp", "EHLO x", 0.002, 250)
print("done", flush=True)
"""


def child(path: Path) -> int:
    """Record from another process (as an SMTP worker does); its pid."""
    env = {k: v for k, v in os.environ.items() if k != runtime.ENV}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert proc.stdout.strip() == "done"
    return _last_pid(path)


def _last_pid(path: Path) -> int:
    pids = {int(p.stem.rsplit("_", 1)[1]) for p in path.glob("gauge_livesum_*.db")}
    pids.discard(os.getpid())
    [pid] = pids
    return pid


def test_nothing_recorded_while_off(tmp_path: Path) -> None:
    assert runtime.current() is None
    record.connection("smtp")  # no error, no effect
    record.delivery("delivered")


def test_values_of_processes_are_summed(metrics_dir: Path) -> None:
    record.connection("smtp")
    record.connection_opened("smtp")
    record.smtp_command("smtp", "EHLO y", 0.004, 250)
    pid = child(metrics_dir)
    found = samples(exposition(metrics_dir, LiveSources()))
    assert value(found, "postel_connections_total", protocol="smtp") == 2
    assert value(found, "postel_connections_open", protocol="smtp") == 2
    assert (
        value(
            found,
            "postel_command_duration_seconds_count",
            protocol="smtp",
            command="EHLO",
            result="2xx",
        )
        == 2
    )
    # The worker exited: its open connections are gone, its counts stay.
    runtime.process_exited(pid)
    found = samples(exposition(metrics_dir, LiveSources()))
    assert value(found, "postel_connections_open", protocol="smtp") == 1
    assert value(found, "postel_connections_total", protocol="smtp") == 2


def test_start_wipes_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    try:
        runtime.enable(path, wipe=True)
        record.delivery("delivered")
        runtime.enable(path, wipe=True)  # the next start of the server
        record.delivery("failed")
        found = samples(exposition(path, LiveSources()))
        assert value(found, "postel_deliveries_total", result="delivered") == 0
        assert value(found, "postel_deliveries_total", result="failed") == 1
    finally:
        runtime.disable()
    assert runtime.ENV not in os.environ


def test_live_sources_at_scrape(metrics_dir: Path) -> None:
    sources = LiveSources(
        queue_counts=lambda: (5, 2),
        certificates=lambda: [("public", "/etc/cert.pem", 1900000000.0)],
    )
    found = samples(exposition(metrics_dir, sources))
    assert value(found, "postel_queue_entries") == 5
    assert value(found, "postel_queue_held_entries") == 2
    assert (
        value(
            found,
            "postel_certificate_expiry_timestamp_seconds",
            listener="public",
            file="/etc/cert.pem",
        )
        == 1900000000.0
    )
