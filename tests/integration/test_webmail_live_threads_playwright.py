"""Issue 22 items 3 and 6 together: live updates of the conversation list. With
`postel localserve` running and the Inbox open, a reply delivered by SMTP to an
existing conversation updates that conversation's row (count, unread, newest
sender, link to the conversation, to the top) without a reload and no second
row appears; the row's checkbox and keyboard focus survive the update. Removed
in another tab, the reply lowers the count again and a single message's row
goes. A new
message appears as a full row: j/k reach it, its checkbox selects it and the
toolbar (or, on a desktop, a drag onto a mailbox) moves it. Debian's chromium
through Playwright at a desktop and a phone width; screenshots in
test-artifacts/webmail-live-threads-*.png."""

from __future__ import annotations

import smtplib
import uuid
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from test_localserve_e2e import running, unverified

from postel.localserve import ADDRESS, PASSWORD, PORTS, ensure_local_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LIVE_MS = 5_000  # how long a change may take to show
ROWS = "table.messages tbody tr[data-thread]"


def send(ip: str, subject: str, msgid: str, sender: str, in_reply_to: str = "") -> None:
    head = (
        f"From: {sender} <{sender.lower()}@example.org>\r\nTo: {ADDRESS}\r\n"
        f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    data = (head + f"\r\nHello {subject}.\r\n").encode()
    with smtplib.SMTP(ip, PORTS["smtp"], local_hostname="client.example", timeout=20) as c:
        c.starttls(context=unverified())
        assert c.sendmail(f"{sender.lower()}@example.org", [ADDRESS], data) == {}


def row(page: Any, subject: str) -> Any:
    return page.locator(ROWS, has=page.locator(f"a.open:text-is('{subject}')"))


def tap(page: Any, phone: bool, locator: Any) -> None:
    if phone:
        locator.tap()
    else:
        locator.click()


def test_conversation_rows_follow_live_updates(testnet: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ip = testnet.ip()
    base = tmp_path / "local"
    info = ensure_local_config(base, ip)
    with (info.config_dir / "postel.toml").open("a") as f:
        f.write(f'\n[dns]\nnameservers = ["{testnet.resolver_ip}"]\ntimeout = 5\n')
    web = f"http://{ip}:{PORTS['web']}"
    with running(base, ip) as ls:
        for label, width, height, phone in (
            ("desktop", 1280, 900, False),
            ("phone", 390, 844, True),
        ):
            tag = uuid.uuid4().hex[:8]
            shot = screenshots(f"webmail-live-threads-{label}")
            root_id = f"<trip-{tag}@live.test>"
            send(ip, f"Trip {tag}", root_id, "Ann")
            send(ip, f"Other {tag}", f"<other-{tag}@live.test>", "Bob")
            with chromium_page(width=width, height=height, timeout_ms=20_000, touch=phone) as page:
                page.goto(web + "/webmail/")
                page.fill("input[name=address]", ADDRESS)
                page.fill("input[name=password]", PASSWORD)
                with page.expect_response(lambda r: "/webmail/events" in r.url) as stream:
                    page.click("button[type=submit]")
                assert stream.value.status == 200
                expect(row(page, f"Trip {tag}")).to_have_count(1, timeout=LIVE_MS)
                expect(row(page, f"Other {tag}")).to_have_count(1, timeout=LIVE_MS)
                page.evaluate("window.notReloaded = true")
                trip = row(page, f"Trip {tag}")
                key = trip.get_attribute("data-thread")
                conv = page.locator(f'{ROWS}[data-thread="{key}"]')
                expect(conv).to_have_attribute("data-count", "1")
                rows = page.locator(ROWS).count()
                # Selected, and the keyboard's focus on its checkbox.
                pick = conv.locator("input.pick")
                tap(page, phone, pick)
                expect(pick).to_be_checked()
                expect(pick).to_be_focused()

                # A reply: the conversation's own row changes, no second row.
                send(ip, f"Re: Trip {tag}", f"<reply-{tag}@live.test>", "Zed", root_id)
                expect(conv).to_have_attribute("data-count", "2", timeout=LIVE_MS)
                expect(conv.locator(".thread-count")).to_have_text("2")
                expect(conv).to_have_class("unseen")
                expect(conv.locator("td.party")).to_contain_text("Zed")
                expect(conv.locator("a.open")).to_have_text(f"Re: Trip {tag}")
                expect(conv.locator("a.open")).to_have_attribute(
                    "href", f"/webmail/thread/{key}?mailbox=Inbox"
                )
                expect(page.locator(ROWS).first).to_have_attribute("data-thread", str(key))
                expect(page.locator(ROWS)).to_have_count(rows)
                expect(page.locator(f'{ROWS}[data-thread="{key}"]')).to_have_count(1)
                expect(pick).to_be_checked()
                expect(pick).to_be_focused()
                assert page.evaluate("window.notReloaded") is True
                shot(page, "reply")

                # Removed elsewhere (another tab of the same session): the reply
                # lowers its conversation's count again, "Other" leaves the list.
                tab = page.context.browser.new_context()
                tab.add_cookies(page.context.cookies())
                other = tab.new_page()
                other.goto(f"{web}/webmail/msg/{conv.get_attribute('data-msgid')}")
                other.click("#bulk-delete")
                expect(conv).to_have_attribute("data-count", "1", timeout=LIVE_MS)
                expect(conv.locator(".thread-count")).to_have_count(0)
                expect(conv.locator("a.open")).to_have_text(f"Trip {tag}")
                expect(conv.locator("a.open")).to_have_attribute("href", f"/webmail/msg/{key}")
                expect(conv.locator("td.party")).to_contain_text("Ann")
                expect(conv).to_have_class("unseen")
                gone = row(page, f"Other {tag}")
                other.goto(f"{web}/webmail/msg/{gone.get_attribute('data-msgid')}")
                other.click("#bulk-delete")
                tab.close()
                expect(gone).to_have_count(0, timeout=LIVE_MS)
                expect(page.locator(ROWS)).to_have_count(rows - 1)
                expect(pick).to_be_checked()
                assert page.evaluate("window.notReloaded") is True
                shot(page, "removed")
                rows -= 1

                # A new conversation: a full row at the top.
                tap(page, phone, pick)
                expect(pick).not_to_be_checked()
                page.evaluate("document.activeElement.blur()")
                send(ip, f"New {tag}", f"<new-{tag}@live.test>", "Cy")
                new = row(page, f"New {tag}")
                expect(new).to_have_count(1, timeout=LIVE_MS)
                expect(page.locator(ROWS).first).to_have_attribute(
                    "data-thread", str(new.get_attribute("data-thread"))
                )
                expect(page.locator(ROWS)).to_have_count(rows + 1)
                expect(new).to_have_attribute("data-count", "1")
                expect(new).to_have_attribute("draggable", "true")
                expect(new).to_have_class("unseen")
                # j/k reach it; x selects it.
                page.keyboard.press("j")
                page.keyboard.press("j")
                page.keyboard.press("k")
                expect(page.locator("tr.current-row a.open")).to_have_text(f"New {tag}")
                expect(new.locator("a.open")).to_be_focused()
                page.keyboard.press("x")
                expect(new.locator("input.pick")).to_be_checked()
                assert page.evaluate("window.notReloaded") is True
                shot(page, "new")
                # The toolbar moves it.
                page.select_option("#move-target", "Archive")
                tap(page, phone, page.locator("#bulk-move"))
                expect(page.locator(".flash.ok")).to_have_text("1 message moved to Archive.")
                expect(row(page, f"New {tag}")).to_have_count(0)
                expect(row(page, f"Trip {tag}")).to_have_count(1)

                if not phone:
                    # A desktop drags a live-inserted row onto a mailbox.
                    send(ip, f"Drag {tag}", f"<drag-{tag}@live.test>", "Di")
                    drag = row(page, f"Drag {tag}")
                    expect(drag).to_have_count(1, timeout=LIVE_MS)
                    drag.drag_to(page.locator('nav.boxes li[data-mailbox="Archive"]'))
                    expect(page.locator(".flash.ok")).to_have_text("1 message moved to Archive.")
                    expect(row(page, f"Drag {tag}")).to_have_count(0)

                tap(page, phone, page.locator('nav.boxes li[data-mailbox="Archive"] a'))
                expect(row(page, f"New {tag}")).to_have_count(1)
                shot(page, "archive")
        assert ls.interrupt() == 0
    assert not [line for line in ls.printed if "Traceback" in line or "error" in line.lower()]
