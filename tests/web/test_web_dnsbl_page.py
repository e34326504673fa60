"""The admin's blocklist page: this server's own addresses in the configured
DNSBLs."""

from __future__ import annotations

import html

from starlette.testclient import TestClient
from webtestlib import Instance, login

from postel.config import load_config
from postel.dns.errors import TemporaryError
from postel.dns.mock import MockResolver
from postel.store import Store

PUBLIC = "81.2.69.160"  # looked up by name only: no connection is made to it


def test_no_zones_configured(client: TestClient) -> None:
    text = client.get("/admin/dnsbl").text
    assert 'id="no-zones"' in text
    assert 'href="/admin/dnsbl"' in client.get("/admin/").text


def test_own_addresses_looked_up_in_each_zone(instance: Instance) -> None:
    toml = instance.cfg.dir / "postel.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[listeners.public]\nips = ["{PUBLIC}"]\nsmtp = {{ enabled = false }}\n'
        + "submission = { enabled = false }\nsubmissions = { enabled = false }\n"
        + '\n[junk]\ndnsbl_zones = ["bl-a.test", "bl-b.test", "bl-c.test"]\n'
    )
    cfg = load_config(instance.cfg.dir)
    resolver = MockResolver({
        ("160.69.2.81.bl-a.test", "A"): ["127.0.0.2"],
        ("160.69.2.81.bl-a.test", "TXT"): ['"listed for spam"'],
        ("160.69.2.81.bl-c.test", "A"): TemporaryError("SERVFAIL"),
    })  # fmt: skip
    inst = Instance(cfg, Store(cfg.datadir), resolver)
    try:
        with TestClient(inst.app(), follow_redirects=True) as c:
            login(c)
            text = html.unescape(c.get("/admin/dnsbl").text)
    finally:
        inst.store.close()
    rows = text.split('<table id="dnsbl">', 1)[1]
    assert (
        f"<td>{PUBLIC}</td><td>bl-a.test</td>" in rows
        and "listed</span> 127.0.0.2 listed for spam" in rows
    )
    assert f'<td>{PUBLIC}</td><td>bl-b.test</td><td><span class="status ok">not listed' in rows
    assert "not known</span> bl-c.test:" in rows
    assert "127.0.0.1" not in rows  # loopback listeners are not looked up
