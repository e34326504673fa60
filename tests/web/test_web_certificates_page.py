"""The admin's certificates page and `postel acme status`: the served files, and
with ACME the host keys, the renewal plan and the last failed order."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient
from webtestlib import Instance, login

from postel.acme.service import prepare
from postel.acme.status import LoopStatus, read_status, view, write_status
from postel.acme.storage import CertStore
from postel.cli.main import cli
from postel.config import load_config
from postel.hostkeys import generate_key, key_pem
from postel.store import Store


def _expired(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    """A self-signed certificate for *name* that expired a day ago."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=3))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_page_lists_served_files_and_marks_expired(client: TestClient, instance: Instance) -> None:
    lst = instance.cfg.static.listeners["local"]
    key = generate_key()
    expired = _expired(key, instance.cfg.static.hostname)
    instance.cfg.path(lst.tls_key_file).write_bytes(key_pem(key))
    cert_path = instance.cfg.path(lst.tls_cert_file)
    cert_path.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    r = client.get("/admin/certificates")
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert str(cert_path) in text and "self-signed" in text and "(expired)" in text
    assert "Problem: " in text  # certcheck's finding for the expired certificate
    assert 'id="acme"' not in text  # ACME is off
    assert 'href="/admin/certificates"' in client.get("/admin/").text  # in the menu


def _acme_instance(instance: Instance) -> Instance:
    toml = instance.cfg.dir / "postel.toml"
    toml.write_text(
        toml.read_text()
        + '\n[acme]\nenabled = true\ndirectory_url = "https://127.0.0.1:1/dir"\n'
        + 'challenge = "http-01"\nhttp01_port = 18080\n'
    )
    cfg = load_config(instance.cfg.dir)
    prepare(cfg)  # host keys and self-signed placeholders, as serve makes them
    return Instance(cfg, Store(cfg.datadir), instance.resolver)


def test_page_and_cli_show_the_renewal_plan_and_last_error(instance: Instance) -> None:
    inst = _acme_instance(instance)
    store = CertStore(inst.cfg.datadir.root)
    now = dt.datetime.now(dt.UTC)
    renew = now + dt.timedelta(days=30)
    status = LoopStatus(
        updated=now,
        directory="https://127.0.0.1:1/dir",
        renew_at={"ecdsa": renew, "rsa": renew},
        next_look=now + dt.timedelta(seconds=40),
        failures=3,
        last_error="cannot reach the CA at https://127.0.0.1:1/dir: connection refused",
        left_out=["autoconfig.example.org"],
    )
    write_status(store, status)
    assert read_status(store) == (status, None)
    try:
        with TestClient(inst.app(), follow_redirects=True) as c:
            login(c)
            text = html.unescape(c.get("/admin/certificates").text)
    finally:
        inst.store.close()
    assert 'id="acme"' in text
    assert "The last order failed (3 in a row" in text and "connection refused" in text
    assert (
        "Not in the certificate until their DNS points at this host: autoconfig.example.org" in text
    )
    assert text.count(f"{renew:%Y-%m-%d %H:%M} UTC") == 2  # each host key's renewal
    digests = [d for _k, d, _n in store.tlsa_digests()]
    assert len(digests) == 2 and all(d in text for d in digests)

    out = CliRunner().invoke(cli, ["acme", "status", "--config", str(inst.cfg.dir)])
    assert out.exit_code == 0, out.output
    assert "renewal loop: running" in out.output
    assert "last order failed (3 in a row): cannot reach the CA" in out.output
    assert "DNS points at this host: autoconfig.example.org" in out.output
    assert f"ecdsa: renewal planned from {renew:%Y-%m-%d %H:%M} UTC" in out.output


def test_status_file_stale_or_damaged(tmp_path: Path) -> None:
    store = CertStore(tmp_path)
    now = dt.datetime.now(dt.UTC)
    assert view(store, now).loop is None and view(store, now).loop_problem is None
    write_status(store, LoopStatus(updated=now - dt.timedelta(hours=3), directory="x"))
    assert view(store, now).stale
    (tmp_path / "acme" / "status.json").write_text('{"updated": 5}')
    v = view(store, now)
    assert v.loop is None and v.loop_problem is not None
    assert "status.json" in v.loop_problem and "not a string" in v.loop_problem
