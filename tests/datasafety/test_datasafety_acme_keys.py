"""Backups copy the host and ACME keys (data/certs, data/acme) without calling
them unknown; verifydata knows them, checks they load and fit their chains,
and never moves them aside."""

from __future__ import annotations

from pathlib import Path

from postel.acme.storage import CertStore
from postel.backup import backup
from postel.gentestdata import Generated
from postel.verifydata import verify


def add_keys(data: Path) -> CertStore:
    store = CertStore(data)
    store.ensure(["mail.example.org"])
    store.account_key()
    store.save_account("https://ca.test/dir", "https://ca.test/acct/1", ["ca.test"])
    return store


def test_backup_copies_keys_without_warning(gen: Generated, tmp_path: Path) -> None:
    store = add_keys(gen.data_dir)
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    assert summary.ok and warnings == []
    copy = CertStore(tmp_path / "bk" / "data")
    for kind in ("ecdsa", "rsa"):
        assert copy.key_file(kind).read_bytes() == store.key_file(kind).read_bytes()
        assert copy.cert_file(kind).read_bytes() == store.cert_file(kind).read_bytes()
    assert copy.account_uri("https://ca.test/dir") == "https://ca.test/acct/1"
    assert verify(tmp_path / "bk" / "data").problems == []


def test_verifydata_knows_and_checks_keys(gen: Generated) -> None:
    store = add_keys(gen.data_dir)
    assert verify(gen.data_dir).problems == []
    result = verify(gen.data_dir, fix=True)
    assert result.fixed == [] and store.key_file("ecdsa").exists()
    # A chain that is not for its key is reported with both files.
    store.cert_file("rsa").write_bytes(store.cert_file("ecdsa").read_bytes())
    assert verify(gen.data_dir).problems == [
        "certs/rsa.crt: its certificate is not for the key certs/rsa.key"
    ]
