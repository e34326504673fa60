"""Fixtures for the MTA-STS tests: a trustme CA and a local HTTPS policy server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from mtasts_server import PolicyServer, server_context, start_server


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


@pytest.fixture
async def policy_server(ca: tuple[trustme.CA, Path]) -> AsyncIterator[PolicyServer]:
    authority, path = ca
    server, state = await start_server(server_context(authority), authority, path)
    async with server:
        yield state
        server.close()
