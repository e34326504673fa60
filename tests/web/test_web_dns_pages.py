"""DNS records page, DNS check page (with a mock resolver), MTA-STS policy serving."""

from __future__ import annotations

import html

from starlette.testclient import TestClient
from webtestlib import POLICY_ID, Instance

from postel.dnscheck import CheckOptions
from postel.hostkeys import cert_file_spki_sha256
from postel.localserve import DOMAIN, HOSTNAME


def test_dns_records_page(client: TestClient, instance: Instance) -> None:
    r = client.get(f"/admin/domains/{DOMAIN}/dns")
    assert r.status_code == 200
    text = html.unescape(r.text)
    lst = instance.cfg.static.listeners["local"]
    digest = cert_file_spki_sha256(instance.cfg.path(lst.tls_cert_file))
    assert f"_25._tcp.{HOSTNAME}. 300 IN TLSA 3 1 1 {digest}" in text
    assert f'_smtp._tls.{HOSTNAME}. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{HOSTNAME}"' in text
    assert f"{DOMAIN}. 300 IN MX 10 {HOSTNAME}." in text
    assert f'_mta-sts.{DOMAIN}. 300 IN TXT "v=STSv1; id={POLICY_ID}"' in text
    assert f"mta-sts.{DOMAIN}. 300 IN CNAME {HOSTNAME}." in text
    dmarc = f"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{DOMAIN}"
    assert f'_dmarc.{DOMAIN}. 300 IN TXT "{dmarc}"' in text
    assert f'2024a._domainkey.{DOMAIN}. 300 IN TXT "v=DKIM1; k=ed25519; p=' in text
    assert f"autoconfig.{DOMAIN}. 300 IN CNAME {HOSTNAME}." in text
    # The listener's own ports (localserve's are the standard ones plus 1000).
    assert f"_submissions._tcp.{DOMAIN}. 300 IN SRV 0 1 1465 {HOSTNAME}." in text
    assert f"_submission._tcp.{DOMAIN}. 300 IN SRV 1 1 1587 {HOSTNAME}." in text
    assert f"_imaps._tcp.{DOMAIN}. 300 IN SRV 0 1 1993 {HOSTNAME}." in text
    assert f"_imap._tcp.{DOMAIN}. 300 IN SRV 1 1 1143 {HOSTNAME}." in text
    assert f'{DOMAIN}. 300 IN CAA 0 issue "letsencrypt.org"' in text
    # Unsigned zone: the TLSA record is shown commented out.
    r = client.get(f"/admin/domains/{DOMAIN}/dns?dnssec=no")
    assert f"; _25._tcp.{HOSTNAME}. 300 IN TLSA 3 1 1 {digest}" in html.unescape(r.text)


def test_dns_records_unknown_domain(client: TestClient) -> None:
    assert client.get("/admin/domains/nope.example/dns").status_code == 404


def test_dns_check_page_shows_errors_and_fixes(instance: Instance) -> None:
    instance.resolver.set(DOMAIN, "MX", ["10 mx.elsewhere.example."])
    instance.resolver.set(f"_dmarc.{DOMAIN}", "TXT", ['"v=DMARC1; p=none"'])
    instance.resolver.set(".", "SOA", [". . 1 2 3 4 5"])
    opts = CheckOptions(timeout=2, starttls=False, bogus_probe=None)
    from webtestlib import login

    with TestClient(instance.app(check_options=opts)) as c:
        login(c)
        r = c.get(f"/admin/domains/{DOMAIN}/check")
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert f"point to mx.elsewhere.example, not to this server ({HOSTNAME})" in text
    assert f"{DOMAIN}. 300 IN MX 10 {HOSTNAME}." in text  # the fix
    assert "DMARC policy is p=none" in text
    assert f"no TXT record at 2024a._domainkey.{DOMAIN}" in text
    assert 'data-section="MX"' in text


def test_mtasts_policy_served(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        r = c.get("/.well-known/mta-sts.txt", headers={"host": f"mta-sts.{DOMAIN}"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == f"version: STSv1\r\nmode: enforce\r\nmx: {HOSTNAME}\r\nmax_age: 86400\r\n"
        r = c.get("/.well-known/mta-sts.txt", headers={"host": f"MTA-STS.{DOMAIN.upper()}:443"})
        assert r.status_code == 200
        r = c.get("/.well-known/mta-sts.txt", headers={"host": "mta-sts.unknown.example"})
        assert r.status_code == 404
        r = c.get("/admin/", headers={"host": f"mta-sts.{DOMAIN}"})
        assert r.status_code == 404  # the policy host serves nothing else
        r = c.post("/.well-known/mta-sts.txt", headers={"host": f"mta-sts.{DOMAIN}"})
        assert r.status_code == 405


def test_mtasts_not_served_when_disabled(instance: Instance) -> None:
    with TestClient(instance.app(mtasts=False)) as c:
        r = c.get("/.well-known/mta-sts.txt", headers={"host": f"mta-sts.{DOMAIN}"})
        assert r.status_code == 404
