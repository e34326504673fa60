"""Fixtures of the metrics tests; helpers in metrics_env.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postel.metrics import runtime


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Iterator[Path]:
    """Metrics on in this process, into a fresh directory; off afterwards."""
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()
