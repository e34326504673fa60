"""The admin home shows certificate problems and expiry within 14 days."""

from __future__ import annotations

import html

from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient
from webtestlib import Instance

from postel.hostkeys import generate_key, key_pem, self_signed_cert


def test_admin_home_warns_of_expiry(client: TestClient, instance: Instance) -> None:
    r = client.get("/admin/")
    assert r.status_code == 200 and 'id="certificates"' not in r.text
    lst = instance.cfg.static.listeners["local"]
    key = generate_key()
    cert = self_signed_cert(key, [instance.cfg.static.hostname, "localhost"], days=3)
    instance.cfg.path(lst.tls_key_file).write_bytes(key_pem(key))
    instance.cfg.path(lst.tls_cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    text = html.unescape(client.get("/admin/").text)
    assert 'id="certificates"' in text
    assert "Warning: " in text and "the certificate expires on" in text
