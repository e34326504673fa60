"""Issue 8 "done when": Debian's chromium (Playwright) against a running postel on the
test network logs in to the admin, reads the DNS records page, runs a DNS check that
finds the errors of a deliberately misconfigured domain, opens a received TLS report
and its chart, and retries a queued message. Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from serverthread import serving

from postel import tlsrptdb
from postel.config import Config, load_config
from postel.queue.db import QueueDB
from postel.server import Running
from postel.store.passwords import scrypt_hash
from postel.tlsrpt import parse_report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / ".." / "shared" / "testdata"
HOST = "mail.admgood.test"
GOOD = "admgood.test"
BROKEN = "admbroken.test"
PASSWORD = "admin password for the test"
SMTP_PORT = 2525
WEB_PORT = 8080


def write_config(root: Path, testnet: Any, ip: str) -> Config:
    conf = root / "config"
    (conf / "certs").mkdir(parents=True)
    cert = testnet.ca.issue_cert(HOST, f"mta-sts.{GOOD}")
    cert.private_key_pem.write_to_path(str(conf / "certs/host.key"))
    cert.cert_chain_pems[0].write_to_path(str(conf / "certs/host.crt"))
    (conf / "adminpasswd").write_text(scrypt_hash(PASSWORD) + "\n")
    (conf / "postel.toml").write_text(f"""
hostname = "{HOST}"
data_dir = "../data"
postmaster_account = "admin"

[host_tlsrpt]
localpart = "tlsrpt"
account = "admin"

[dns]
nameservers = ["{testnet.resolver_ip}"]
timeout = 3

[tls]
extra_ca_files = ["{testnet.ca_file}"]

[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
local_only = true
smtp_port = {SMTP_PORT}

[listeners.net]
ips = ["{ip}"]
internal = true
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ enabled = true, port = {SMTP_PORT} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = {WEB_PORT}, tls = false, admin = true, mtasts = true }}

# MTA-STS policies over HTTPS (RFC 8461 §3.3), checked by the DNS check.
[listeners.https]
ips = ["{ip}"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ enabled = false }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = 443, tls = true, mtasts = true }}
""")
    (conf / "domains.toml").write_text(f"""
[domains."{GOOD}"]
[domains."{GOOD}".tlsrpt_reports]
localpart = "tls-reports"
account = "admin"
mailbox = "TLSRPT"
[domains."{GOOD}".mta_sts]
policy_id = "good1"
mode = "enforce"
max_age = 604800

[domains."{BROKEN}"]
[domains."{BROKEN}".dmarc_reports]
localpart = "dmarc-reports"
account = "admin"
mailbox = "DMARC"
[domains."{BROKEN}".mta_sts]
policy_id = "configured2"
mode = "enforce"
max_age = 604800

[accounts.admin]
domain = "{GOOD}"
addresses = ["admin@{GOOD}"]
""")
    return load_config(conf)


@dataclass
class Server:
    cfg: Config
    base: str
    running: Running


@pytest.fixture
def server(testnet: Any, tmp_path: Path) -> Iterator[Server]:
    ip = testnet.ip()
    cfg = write_config(tmp_path, testnet, ip)
    testnet.set_zone(
        GOOD,
        [
            f"@ MX 10 {HOST}.",
            f"mail A {ip}",
            '@ TXT "v=spf1 mx -all"',
            f"mta-sts CNAME {HOST}.",
            '_mta-sts TXT "v=STSv1; id=good1"',
            '_dmarc TXT "v=DMARC1; p=reject"',
            f'_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tls-reports@{GOOD}"',
        ],
    )
    # Deliberately wrong: MX elsewhere, DMARC p=none, stale MTA-STS id, no TLSRPT record.
    testnet.set_zone(
        BROKEN,
        [
            "@ MX 10 mx.elsewhere.test.",
            '@ TXT "v=spf1 -all"',
            '_dmarc TXT "v=DMARC1; p=none"',
            '_mta-sts TXT "v=STSv1; id=old1"',
        ],
    )
    with serving(cfg) as running:
        assert (ip, WEB_PORT, "admin") in running.bound
        assert (ip, 443, "mtasts") in running.bound
        yield Server(cfg, f"http://{ip}:{WEB_PORT}", running)


def add_report(cfg: Config) -> int:
    report = parse_report((TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()).report
    with tlsrptdb.open(cfg.datadir.tlsrpt_db) as db:
        return db.add(
            report, from_addr="reports@company-x.example", to_rcpt=f"tls-reports@{GOOD}"
        ).id


def queue_message(cfg: Config) -> int:
    db = QueueDB.open(cfg.datadir)
    try:
        return db.add(
            f"From: admin@{GOOD}\r\nSubject: queued for the admin test\r\n\r\nhi\r\n".encode(),
            account="admin",
            mail_from=f"admin@{GOOD}",
            rcpts=["someone@remote.test"],
            requiretls=False,
            tls_required_no=False,
            is_tlsrpt=False,
            is_dmarc_report=False,
            smtputf8=False,
            eightbit=False,
            max_attempts=10,
            now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
            subject="queued for the admin test",
        )[0]
    finally:
        db.close()


def test_admin_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect

    report_id = add_report(server.cfg)
    entry_id = queue_message(server.cfg)
    shot = screenshots("admin")

    with chromium_page(width=1200, height=900, timeout_ms=60_000) as page:
        # 1. Log in.
        page.goto(server.base + "/admin/")
        expect(page).to_have_url(server.base + "/admin/login")
        shot(page, "01-login")
        page.fill("#password", "wrong")
        page.click("text=Log in")
        expect(page.locator(".flash.error")).to_contain_text("Wrong password")
        page.fill("#password", PASSWORD)
        page.click("text=Log in")
        expect(page).to_have_url(server.base + "/admin/")
        expect(page.locator("h1")).to_have_text(HOST)
        shot(page, "02-overview")

        # 2. DNS records page.
        page.click(f"a[href='/admin/domains/{GOOD}/dns']")
        zone = page.locator("pre#zone")
        expect(zone).to_contain_text(f"_25._tcp.{HOST}. 300 IN TLSA 3 1 1 ")
        expect(zone).to_contain_text(
            f'_smtp._tls.{HOST}. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{HOST}"'
        )
        expect(zone).to_contain_text(f'_mta-sts.{GOOD}. 300 IN TXT "v=STSv1; id=good1"')
        shot(page, "03-dns-records")

        # 3. DNS check of the misconfigured domain against the test network.
        page.goto(f"{server.base}/admin/domains/{BROKEN}/check")
        mx = page.locator("section[data-section='MX']")
        expect(mx).to_have_class("check error")
        expect(mx.locator("ul.errors")).to_contain_text(
            f"point to mx.elsewhere.test, not to this server ({HOST})"
        )
        expect(mx.locator("pre.fix")).to_contain_text(f"{BROKEN}. 300 IN MX 10 {HOST}.")
        dmarc = page.locator("section[data-section='DMARC']")
        expect(dmarc.locator("ul.warnings")).to_contain_text("p=none")
        mtasts = page.locator("section[data-section='MTA-STS']")
        expect(mtasts).to_have_class("check error")
        expect(mtasts.locator("ul.errors")).to_contain_text("id=old1")
        spf = page.locator("section[data-section='SPF']")
        expect(spf).to_have_class("check error")
        shot(page, "04-dns-check-misconfigured")

        # The well configured domain passes MX, STARTTLS and MTA-STS.
        page.goto(f"{server.base}/admin/domains/{GOOD}/check")
        for name in ("MX", "STARTTLS", "MTA-STS", "DMARC"):
            expect(page.locator(f"section[data-section='{name}']")).to_have_class("check ok")
        shot(page, "05-dns-check-good")

        # 4. A received TLS report and its chart.
        page.click("header >> text=TLS reports")
        expect(page.locator("svg.chart").first).to_be_visible()
        page.click(f"a[href='/admin/tlsrpt/{report_id}']")
        expect(page.locator("h1")).to_contain_text("Company-X")
        chart = page.locator("svg.chart")
        expect(chart).to_be_visible()
        expect(chart.locator("title").first).to_contain_text("Sessions per policy")
        expect(page.locator("body")).to_contain_text("company-y.example")
        shot(page, "06-tls-report")

        # 5. Retry a queued message.
        page.click("header >> text=Queue")
        row = page.locator(f"tr[data-entry='{entry_id}']")
        expect(row).to_contain_text("someone@remote.test")
        row.locator("button", has_text="Retry now").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Entry {entry_id} will be delivered now")
        shot(page, "07-queue-retried")
