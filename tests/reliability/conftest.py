"""Fixtures of the crash tests: `postel serve` subprocesses on 127.0.0.1 with a
local DNS stub, driven by bench/loadclient.py (see bench/benchlib.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with benchlib.dns_stub() as port:
        yield port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> benchlib.Certs:
    return benchlib.make_certs(tmp_path_factory.mktemp("certs"))
