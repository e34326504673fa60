"""Fixtures for the web tests (helpers in webtestlib.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webtestlib import Instance, login, make_instance


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    inst = make_instance(tmp_path)
    try:
        yield inst
    finally:
        inst.store.close()


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    """A logged-in admin client."""
    with TestClient(instance.app(), follow_redirects=True) as c:
        r = login(c)
        assert r.status_code == 200 and r.url.path == "/admin/"
        yield c
