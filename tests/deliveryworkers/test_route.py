"""Routing a recipient domain to a delivery worker, and how many there are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from postel.config import Config, load_config
from postel.config.model import DeliveryConfig
from postel.deliveryworkers import worker_for
from postel.services import delivery_worker_count


def test_one_domain_always_goes_to_the_same_worker() -> None:
    for domain in ("example.com", "EXAMPLE.com.", "exämple.test"):
        first = worker_for(domain, 4)
        assert all(worker_for(domain, 4) == first for _ in range(10))
    assert worker_for("Example.COM.", 3) == worker_for("example.com", 3)


def test_routing_is_stable_across_processes() -> None:
    """Not Python's hash(), which is salted per process (PYTHONHASHSEED)."""
    code = "from postel.deliveryworkers import worker_for; print(worker_for('d17.test', 4))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert outs == {str(worker_for("d17.test", 4))}


def test_domains_spread_over_the_workers() -> None:
    counts = [0, 0, 0, 0]
    for i in range(1000):
        counts[worker_for(f"d{i}.test", 4)] += 1
    assert all(200 <= c <= 300 for c in counts), counts
    assert worker_for("anything.test", 1) == 0


def test_workers_option_defaults_to_automatic() -> None:
    assert DeliveryConfig().workers == 0
    assert DeliveryConfig(workers=1).workers == 1


def _config(tmp_path: Path, delivery: str) -> Config:
    (tmp_path / "postel.toml").write_text(
        f'hostname = "mail.sender.test"\npostmaster_account = "alice"\n[listeners]\n'
        f"[delivery]\n{delivery}\n"
    )
    (tmp_path / "domains.toml").write_text(
        '[domains."sender.test"]\n[accounts.alice]\ndomain = "sender.test"\n'
        'addresses = ["alice@sender.test"]\n'
    )
    return load_config(tmp_path)


def test_process_count_of_serve(tmp_path: Path) -> None:
    assert delivery_worker_count(_config(tmp_path, "workers = 3")) == 3
    assert delivery_worker_count(_config(tmp_path, "workers = 1")) == 1
    auto = delivery_worker_count(_config(tmp_path, ""))
    assert auto == max(1, min(os.cpu_count() or 1, 4))
    # Delivery to local accounts only (localserve) stays in the main process.
    assert delivery_worker_count(_config(tmp_path, "workers = 3\nlocal_only = true")) == 1
