"""Fixtures of the dmarcsend tests (helpers are in dmarcsend_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dmarcsend_data import DOMAINS, STATIC


@pytest.fixture()
def config_dir(tmp_path: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "dkim-s1.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "postel.toml").write_text(STATIC)
    (tmp_path / "domains.toml").write_text(DOMAINS)
    return tmp_path
