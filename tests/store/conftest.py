"""Fixtures of the store tests: a data dir, its Store and the account "alice"."""

from __future__ import annotations

from pathlib import Path

import pytest

from postel.datadir import DataDir
from postel.store.account import AccountStore
from postel.store.store import Store


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data")


@pytest.fixture
def store(datadir: DataDir) -> Store:
    s = Store(datadir)
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def acc(store: Store) -> AccountStore:
    return store.account("alice")
