"""A quickstart installation publishes IMAP in DNS (RFC 6186) and answers
autoconfig for its domain on its public web listener, with the standard ports;
its internal admin listener (loopback, 8080) is never told."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
from starlette.testclient import TestClient

from postel.clientsetup import Endpoint, client_services
from postel.config import load_config
from postel.dns.mock import MockResolver
from postel.dnsrecords import client_records
from postel.quickstart import quickstart
from postel.store import Store
from postel.web import build_app

DOMAIN = "example.test"
HOST = f"mail.{DOMAIN}"


def test_quickstart_client_settings(tmp_path: Path) -> None:
    quickstart(tmp_path / "config", f"you@{DOMAIN}", password="p" * 16)
    cfg = load_config(tmp_path / "config")
    services = client_services(cfg.static)
    assert services.imap == (Endpoint(993, "tls"), Endpoint(143, "starttls"))
    assert services.submission == (Endpoint(465, "tls"), Endpoint(587, "starttls"))
    srv = {r.name: r.value for r in client_records(cfg, DOMAIN) if r.rtype == "SRV"}
    assert srv[f"_imaps._tcp.{DOMAIN}."] == f"0 1 993 {HOST}."
    assert srv[f"_imap._tcp.{DOMAIN}."] == f"1 1 143 {HOST}."
    assert srv[f"_submissions._tcp.{DOMAIN}."] == f"0 1 465 {HOST}."

    public = cfg.static.listeners["public"]
    assert public.web.autoconfig  # on by default: quickstart's file does not name it
    store = Store(cfg.datadir)
    try:
        app = build_app(
            cfg,
            store,
            MockResolver({}),
            admin=public.web.admin,
            webmail=public.web.webmail,
            mtasts=public.web.mtasts,
            autoconfig=public.web.autoconfig,
        )
        with TestClient(app, base_url=f"https://autoconfig.{DOMAIN}") as client:
            r = client.get(f"/mail/config-v1.1.xml?emailaddress=you%40{DOMAIN}")
    finally:
        store.close()
    assert r.status_code == 200
    root = DET.fromstring(r.content)
    assert [s.findtext("port") for s in root.iter("incomingServer")] == ["993", "143"]
    assert {s.findtext("hostname") for s in root.iter("outgoingServer")} == {HOST}
