"""A data dir made by gentestdata, made once per session and copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from postel.gentestdata import Generated, generate


@pytest.fixture(scope="session")
def _generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return generate(tmp_path_factory.mktemp("gen") / "testdata")


@pytest.fixture
def gen(_generated: Generated, tmp_path: Path) -> Generated:
    """A private copy of the generated config and data dirs."""
    base = tmp_path / "copy"
    shutil.copytree(_generated.base, base, symlinks=True)
    return Generated(base, base / "config", base / "data")
