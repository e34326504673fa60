"""Issue 22 item 6: with `postel localserve` running, mail delivered by SMTP appears
in an open Inbox without a reload and the unread counts follow; a message read in
another tab turns read in the first. Debian's chromium through Playwright, at a
desktop and a phone width; screenshots in test-artifacts/."""

from __future__ import annotations

import smtplib
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from test_localserve_e2e import running, unverified

from postel.localserve import ADDRESS, PASSWORD, PORTS, ensure_local_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LIVE_MS = 5_000  # how long a change may take to show


def send(ip: str, subject: str) -> None:
    data = (
        f"From: tester@example.org\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@live.test>\r\n\r\nHello {subject}.\r\n"
    ).encode()
    with smtplib.SMTP(ip, PORTS["smtp"], local_hostname="client.example", timeout=20) as c:
        c.starttls(context=unverified())
        assert c.sendmail("tester@example.org", [ADDRESS], data) == {}


def unread(page: Any) -> str:
    count = page.locator('nav.boxes li[data-mailbox="Inbox"] .count')
    return str(count.text_content()) if count.count() else "0"


def test_new_mail_and_read_state_show_without_reload(testnet: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ip = testnet.ip()
    base = tmp_path / "local"
    info = ensure_local_config(base, ip)
    with (info.config_dir / "postel.toml").open("a") as f:
        f.write(f'\n[dns]\nnameservers = ["{testnet.resolver_ip}"]\ntimeout = 5\n')
    web = f"http://{ip}:{PORTS['web']}"
    with running(base, ip) as ls:
        for label, width, height, touch in (
            ("desktop", 1280, 900, False),
            ("phone", 390, 844, True),
        ):
            shot = screenshots(f"webmail-live-{label}")
            with chromium_page(width=width, height=height, timeout_ms=20_000, touch=touch) as page:
                page.goto(web + "/webmail/")
                page.fill("input[name=address]", ADDRESS)
                page.fill("input[name=password]", PASSWORD)
                with page.expect_response(lambda r: "/webmail/events" in r.url) as stream:
                    page.click("button[type=submit]")
                assert stream.value.status == 200
                expect(page.locator("h1")).to_contain_text("Inbox")
                page.evaluate("window.notReloaded = true")
                before = int(unread(page))
                rows = page.locator("table.messages tbody tr[data-uid]").count()

                subject = f"live {label} {uuid.uuid4().hex[:8]}"
                started = time.monotonic()
                send(ip, subject)
                row = page.locator("table.messages tbody tr[data-uid]").first
                expect(row.locator("td.subject")).to_have_text(subject, timeout=LIVE_MS)
                shown = time.monotonic() - started
                expect(row).to_have_class("unseen")
                expect(page.locator("table.messages tbody tr[data-uid]")).to_have_count(rows + 1)
                expect(page.locator('nav.boxes li[data-mailbox="Inbox"] .count')).to_have_text(
                    str(before + 1), timeout=LIVE_MS
                )
                expect(page.locator("#mailbox-counts")).to_contain_text(f"{before + 1} unread")
                assert page.evaluate("window.notReloaded") is True
                shot(page, "new-mail")

                # Read in another tab: the first tab's row and count follow.
                tab = page.context.browser.new_context()  # the same session cookie
                tab.add_cookies(page.context.cookies())
                other = tab.new_page()
                other.goto(web + str(row.locator("a").get_attribute("href")))
                expect(other.locator("h1")).to_contain_text(subject)
                tab.close()
                expect(row).to_have_class("seen", timeout=LIVE_MS)
                if before == 0:
                    expect(page.locator('nav.boxes li[data-mailbox="Inbox"] .count')).to_have_count(
                        0, timeout=LIVE_MS
                    )
                else:
                    expect(page.locator('nav.boxes li[data-mailbox="Inbox"] .count')).to_have_text(
                        str(before), timeout=LIVE_MS
                    )
                assert page.evaluate("window.notReloaded") is True
                shot(page, "read-elsewhere")
                print(f"{label}: new mail shown {shown:.2f} s after the SMTP session began")
        assert ls.interrupt() == 0
    assert not [line for line in ls.printed if "Traceback" in line or "error" in line.lower()]
