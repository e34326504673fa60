"""Issue 9 "done when": Debian's chromium (Playwright) against a running postel on the
test network logs in to the webmail, lists and reads mail, composes to recipients set
up so that each segment of the security bar shows each of its colours (screenshots in
test-artifacts/), and sends with REQUIRETLS to a peer (postel's own SMTP server as the
MX of a DNSSEC-signed domain with DANE and MTA-STS enforce) that receives it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from delivery_peer import PORT, PostelPeer, issue, peer_config
from serverthread import serving
from webmailsite import Site, write_site

from postel.config import Config
from postel.store import Store

pytestmark = pytest.mark.integration

SENDER = "wm-sender.test"
GOOD = "wm-good.test"  # signed, TLSA, MTA-STS enforce, remembered STARTTLS+REQUIRETLS
PLAIN = "wm-plain.test"  # unsigned, no MTA-STS, remembered no STARTTLS/REQUIRETLS
BOGUS = "wm-bogus.test"  # DNSSEC bogus, never delivered to
SITE = Site(
    SENDER, f"you@{SENDER}", "webmail password for the test", "Webmail Tester", local_only=False
)
ADDRESS, PASSWORD = SITE.address, SITE.password
WEB_PORT = 8080
ASPECTS = ["starttls", "mtasts", "dnssec", "dane", "requiretls"]
HTML_MAIL = (
    f"From: Alice <alice@{GOOD}>\r\nTo: {ADDRESS}\r\nSubject: Welcome to the webmail\r\n"
    "Message-ID: <welcome@wm-good.test>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
    "<h1>Hello from Alice</h1><p>This is <b>HTML</b> mail."
    '<img src="https://tracker.wm-good.test/pixel.gif" alt="pixel"></p>'
    "<script>document.title='pwned'</script>\r\n"
).encode()


def write_config(root: Path, testnet: Any, ip: str) -> Config:
    conf = root / "config"
    (conf / "certs").mkdir(parents=True)
    cert = testnet.ca.issue_cert(f"mail.{SENDER}")
    cert.private_key_pem.write_to_path(str(conf / "certs/host.key"))
    cert.cert_chain_pems[0].write_to_path(str(conf / "certs/host.crt"))
    listener = f"""[listeners.net]
ips = ["{ip}"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ enabled = true, port = {PORT} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = {WEB_PORT}, tls = false, webmail = true }}
"""
    return write_site(
        root,
        SITE,
        testnet.resolver_ip,
        listener,
        extra_config=f'\n[tls]\nextra_ca_files = ["{testnet.ca_file}"]\n',
        extra_delivery=f"smtp_port = {PORT}\n",
    )


@dataclass
class Instance:
    cfg: Config
    base: str
    peer: PostelPeer


@pytest.fixture
def instance(testnet: Any, tmp_path: Path) -> Iterator[Instance]:
    ip = testnet.ip()
    cfg = write_config(tmp_path, testnet, ip)

    # The REQUIRETLS-capable recipient domain: postel's SMTP server as its MX, DANE-EE
    # TLSA record for its key, MTA-STS enforce; all in a DNSSEC-signed zone.
    peer_ip = testnet.ip()
    certs = issue(testnet.ca, f"mx.{GOOD}", tmp_path / "peercerts")
    testnet.set_zone(
        GOOD,
        [
            "@ MX 10 mx",
            f"mx A {peer_ip}",
            f"_25._tcp.mx TLSA 3 1 1 {certs.spki_sha256()}",
            '_mta-sts TXT "v=STSv1; id=wm1"',
            f"mta-sts A {testnet.https_ip}",
        ],
        dnssec="signed",
    )
    testnet.https_serve(
        f"mta-sts.{GOOD}",
        "/.well-known/mta-sts.txt",
        f"version: STSv1\nmode: enforce\nmx: mx.{GOOD}\nmax_age: 86400\n",
    )
    testnet.set_zone(PLAIN, ["@ MX 10 mx", "mx A 192.0.2.26"], dnssec="unsigned")
    testnet.set_zone(
        BOGUS, ["@ MX 10 mx", "mx A 192.0.2.27", '_mta-sts TXT "v=STSv1; id=b1"'], dnssec="bogus"
    )
    pdir = tmp_path / "peer"
    pdir.mkdir()
    peer = PostelPeer(peer_config(pdir, f"mx.{GOOD}", peer_ip, GOOD, certs))

    # What earlier deliveries from this account saw (docs/webmail-security-api.md).
    store = Store(cfg.datadir)
    acc = store.account("you")
    acc.remember_domain_security(GOOD, True, True)
    acc.remember_domain_security(PLAIN, False, False)
    acc.deliver_bytes("Inbox", HTML_MAIL)
    for i in range(1, 61):
        acc.deliver_bytes(
            "Inbox",
            f"From: n{i}@{PLAIN}\r\nSubject: filler {i}\r\n\r\nx\r\n".encode(),
            flags=["\\Seen"],
        )
    store.close()

    with serving(cfg, before=peer.start, after=peer.stop) as running:
        assert (ip, WEB_PORT, "webmail") in running.bound
        yield Instance(cfg, f"http://{ip}:{WEB_PORT}", peer)


def bar_values(page: Any, field: str, address: str) -> dict[str, str]:
    row = page.locator(f'#security-{field} .rcpt[data-address="{address}"]')
    return {
        a: row.locator(f'.seg[data-aspect="{a}"]').get_attribute("data-value") or ""
        for a in ASPECTS
    }


def wait_rows_settled(page: Any, field: str, count: int) -> None:
    page.wait_for_function(
        """([field, count]) => {
            const rows = document.querySelectorAll('#security-' + field + ' .rcpt');
            return rows.length === count && Array.from(rows).every(
                r => r.dataset.state === 'done' || r.dataset.state === 'failed');
        }""",
        arg=[field, count],
        timeout=30_000,
    )


def last_dsn(cfg: Config) -> str:
    """The newest message in the sender's Inbox (a DSN when delivery failed)."""
    store = Store(cfg.datadir)
    try:
        acc = store.account("you")
        [msg] = acc.list_messages("Inbox", limit=1)
        with acc.open_message(msg.msgid) as fp:
            return fp.read(4000).decode(errors="replace")
    finally:
        store.close()


def test_webmail_in_chromium(instance: Instance) -> None:
    from playwright.sync_api import expect

    shot = screenshots("webmail")

    with chromium_page(width=1280, height=900, timeout_ms=20_000) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Log in.
        page.goto(instance.base + "/webmail/")
        expect(page).to_have_url(instance.base + "/webmail/login")
        page.fill("input[name=address]", ADDRESS)
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        expect(page.locator(".flash.error")).to_contain_text("Wrong address or password")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Inbox")
        shot(page, "inbox")

        # List: 61 messages, 50 per page, the newest first; older page by cursor.
        expect(page.locator("table.messages tbody tr")).to_have_count(50)
        page.click("a[rel=next]")
        expect(page.locator("table.messages tbody tr")).to_have_count(11)
        expect(page.locator("table.messages")).to_contain_text("Welcome to the webmail")

        # Read the HTML message: sanitised, in a sandboxed frame, remote image blocked.
        page.click("text=Welcome to the webmail")
        expect(page.locator("h1.subject")).to_have_text("Welcome to the webmail")
        frame = page.frame_locator("iframe.body-html")
        expect(frame.locator("h1")).to_have_text("Hello from Alice")
        expect(frame.locator("b")).to_have_text("HTML")
        assert frame.locator("script").count() == 0
        sandbox = page.locator("iframe.body-html").get_attribute("sandbox") or ""
        assert "allow-scripts" not in sandbox
        expect(page.locator(".remote-note")).to_contain_text("1 remote image")
        assert "tracker" not in (frame.locator("img").get_attribute("src") or "")
        shot(page, "read")

        # Compose: recipients typed one after the other; the bar updates as typed.
        page.click("a.compose-link")
        expect(page.locator("h1")).to_have_text("Compose")
        literal = "dave@[192.0.2.1]"
        bad = f"bad..dots@{BOGUS}"
        recipients = [f"user@{GOOD}", f"bob@{PLAIN}", f"carol@{BOGUS}", literal, bad]
        to = page.locator("#to")
        to.click()
        to.press_sequentially(", ".join(recipients), delay=15)
        wait_rows_settled(page, "to", len(recipients))
        shot(page, "compose-colours")

        good = bar_values(page, "to", f"user@{GOOD}")
        assert good == dict.fromkeys(ASPECTS, "yes"), good
        plain = bar_values(page, "to", f"bob@{PLAIN}")
        assert plain == dict.fromkeys(ASPECTS, "no"), plain
        bogus = bar_values(page, "to", f"carol@{BOGUS}")
        assert bogus == {
            "starttls": "unknown",
            "mtasts": "error",
            "dnssec": "error",
            "dane": "error",
            "requiretls": "unknown",
        }, bogus
        assert bar_values(page, "to", literal) == dict.fromkeys(ASPECTS, "unknown")
        # A failed request shows all grey.
        assert bar_values(page, "to", bad) == dict.fromkeys(ASPECTS, "error")
        # Each segment has shown each colour.
        for aspect in ASPECTS:
            seen = {
                v[aspect]
                for v in (
                    good,
                    plain,
                    bogus,
                    bar_values(page, "to", literal),
                    bar_values(page, "to", bad),
                )
            }
            assert seen == {"yes", "no", "error", "unknown"}, (aspect, seen)
        # Colours as rendered, and tooltips that explain the value for this recipient.
        seg = page.locator(
            f'#security-to .rcpt[data-address="user@{GOOD}"] .seg[data-aspect="dane"]'
        )
        assert seg.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(46, 125, 50)"
        assert f"mx.{GOOD}" in (seg.get_attribute("title") or "")
        red = page.locator(
            f'#security-to .rcpt[data-address="bob@{PLAIN}"] .seg[data-aspect="dnssec"]'
        )
        assert red.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(198, 40, 40)"
        assert "not DNSSEC-signed" in (red.get_attribute("title") or "")
        grey = page.locator(
            f'#security-to .rcpt[data-address="carol@{BOGUS}"] .seg[data-aspect="dnssec"]'
        )
        assert grey.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(158, 158, 158)"
        empty = page.locator(
            f'#security-to .rcpt[data-address="{literal}"] .seg[data-aspect="dane"]'
        )
        assert empty.evaluate("e => getComputedStyle(e).backgroundColor") == "rgba(0, 0, 0, 0)"
        grey.hover()
        shot(page, "compose-tooltip")
        expect(page.locator("#requiretls")).not_to_be_checked()

        # Only the safe recipient left: REQUIRETLS is pre-selected.
        to.fill("")
        to.press_sequentially(f"user@{GOOD}", delay=15)
        wait_rows_settled(page, "to", 1)
        expect(page.locator("#requiretls")).to_be_checked()
        page.fill("#subject", "Sent with REQUIRETLS")
        page.fill("#body", "This message must travel over verified TLS.")
        shot(page, "compose-requiretls")
        page.click("button[value=send]")
        expect(page.locator(".flash.ok")).to_contain_text("Message sent (REQUIRETLS)")
        shot(page, "sent")

        # The Sent mailbox has the copy.
        page.click("nav.boxes >> text=Sent")
        expect(page.locator("table.messages")).to_contain_text("Sent with REQUIRETLS")
        assert not errors, errors

    # Delivered at the peer, with REQUIRETLS (RFC 8689 §4.2).
    deadline = time.monotonic() + 60
    inbox: list[Any] = []
    while time.monotonic() < deadline:
        inbox = instance.peer.inbox()
        if inbox:
            break
        time.sleep(0.5)
    assert len(inbox) == 1, "message not delivered to the peer: " + last_dsn(instance.cfg)
    assert inbox[0].subject == "Sent with REQUIRETLS"
    assert inbox[0].requiretls
