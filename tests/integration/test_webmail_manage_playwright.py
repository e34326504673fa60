"""Issue 22 items 3, 4 and 5 in Debian's chromium (Playwright), at a desktop width
(1280 px) and a phone width (390 px, touch screen), against a running postel on
the test network: conversations in the list and on their own page (item 3);
mailboxes created, renamed and deleted, a bad name and a special mailbox refused
in the page, conversations selected, marked read, moved by dragging onto a
mailbox (desktop) or with the Move button (phone), Trash emptied after a
confirmation (item 4); and the webmail used with keys only: j/k, o/Enter, x, m,
r, a, f, c, Delete, "/" and the "?" help overlay, no shortcut while typing, focus
always visible (item 5). Screenshots: test-artifacts/conversations-<width>-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from serverthread import serving
from webmailsite import Site, login, web_listener, write_site

from postel.config import Config
from postel.store import Store

pytestmark = pytest.mark.integration

LOCAL = "wm22c.test"
SITE = Site(LOCAL, f"you@{LOCAL}", "webmail password for items 3 to 5", "Keyboard Tester")
ADDRESS, PASSWORD = SITE.address, SITE.password
WEB_PORT = 8080


def mail(subject: str, msgid: str, in_reply_to: str = "", sender: str = "Ann") -> bytes:
    head = (
        f"From: {sender} <{sender.lower()}@example.org>\r\nTo: {ADDRESS}\r\n"
        f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    return (head + f"\r\nThe text of {subject}.\r\n").encode()


@dataclass
class Instance:
    cfg: Config
    base: str
    trip: int  # thread key of the conversation "Trip plans"


@pytest.fixture
def instance(testnet: Any, tmp_path: Path) -> Iterator[Instance]:
    ip = testnet.ip()
    cfg = write_site(tmp_path, SITE, testnet.resolver_ip, web_listener(ip, WEB_PORT))
    store = Store(cfg.datadir)
    acc = store.account("you")
    root = acc.deliver_bytes("Inbox", mail("Trip plans", "<t1@x>"), flags=["\\Seen"])
    acc.deliver_bytes(
        "Sent", mail("Re: Trip plans", "<t2@x>", "<t1@x>", sender="You"), flags=["\\Seen"]
    )
    acc.deliver_bytes("Inbox", mail("Other one", "<o1@x>", sender="Bob"), flags=["\\Seen"])
    acc.deliver_bytes("Inbox", mail("Re: Trip plans", "<t3@x>", "<t2@x>"))
    acc.deliver_bytes("Inbox", mail("Other two", "<o2@x>", sender="Carol"))
    acc.deliver_bytes("Inbox", mail("Re: Trip plans", "<t4@x>", "<t3@x>"))
    acc.deliver_bytes("Inbox", mail("Other three", "<o3@x>", sender="Dan"))
    acc.deliver_bytes("Trash", mail("old news", "<x1@x>"), flags=["\\Seen"])
    acc.deliver_bytes("Trash", mail("older news", "<x2@x>"), flags=["\\Seen"])
    acc.create_mailbox("Projects")
    acc.deliver_bytes("Projects", mail("project notes", "<p1@x>"), flags=["\\Seen"])
    store.close()
    with serving(cfg) as running:
        assert (ip, WEB_PORT, "webmail") in running.bound
        yield Instance(cfg, f"http://{ip}:{WEB_PORT}", root.msgid)


def page_width(page: Any) -> int:
    width: int = page.evaluate("() => document.documentElement.scrollWidth")
    return width


def row(page: Any, subject: str) -> Any:
    return page.locator("table.messages tbody tr", has=page.locator(f"a:text-is('{subject}')"))


def tap(page: Any, phone: bool, locator: Any) -> None:
    if phone:
        locator.tap()
    else:
        locator.click()


WIDTHS = [1280, 390]


@pytest.mark.parametrize("width", WIDTHS)
def test_conversations_in_the_list(instance: Instance, width: int) -> None:
    from playwright.sync_api import expect

    phone = width < 600
    shot = screenshots(f"conversations-{width}")
    with chromium_page(width=width, height=900, timeout_ms=20_000, touch=phone) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, instance.base, SITE)
        rows = page.locator("table.messages tbody tr")
        # Six Inbox messages, four rows: the three of "Trip plans" are one, under
        # its newest message, with its count; unread because two of them are.
        expect(rows.locator("td.subject a.open")).to_have_text(
            ["Other three", "Re: Trip plans", "Other two", "Other one"]
        )
        trip = row(page, "Re: Trip plans")
        expect(trip.locator(".thread-count")).to_have_text("3")
        expect(trip).to_have_class("unseen")
        expect(page.locator("h1")).to_contain_text("6 messages, 4 unread")
        assert page_width(page) <= width, page_width(page)
        shot(page, "list")
        tap(page, phone, trip.locator("a.open"))
        expect(page).to_have_url(f"{instance.base}/webmail/thread/{instance.trip}?mailbox=Inbox")
        expect(page.locator("h1")).to_contain_text("4 messages in this conversation")
        # Oldest first, the reply from Sent among them.
        expect(page.locator("table.messages td.mailbox")).to_have_text(
            ["Inbox", "Sent", "Inbox", "Inbox"]
        )
        assert page_width(page) <= width, page_width(page)
        shot(page, "thread")
        tap(page, phone, page.locator("table.messages td.subject a").nth(1))
        expect(page.locator("h1.subject")).to_have_text("Re: Trip plans")
        expect(page.locator("a.conversation-link")).to_have_text("4 messages in this conversation")
        shot(page, "message")
        assert not errors, errors


@pytest.mark.parametrize("width", WIDTHS)
def test_mailbox_management(instance: Instance, width: int) -> None:
    from playwright.sync_api import expect

    phone = width < 600
    shot = screenshots(f"conversations-{width}")
    base = instance.base
    with chromium_page(width=width, height=900, timeout_ms=20_000, touch=phone) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, base, SITE)

        # Create, a refused name, rename, delete after a confirmation.
        tap(page, phone, page.locator("nav.boxes a.manage"))
        expect(page.locator("h1")).to_have_text("Mailboxes")
        special = page.locator('table.boxlist tr[data-mailbox="Inbox"]')
        expect(special).to_contain_text("special mailbox")
        expect(special.locator("button")).to_have_count(0)
        page.fill("#new-box", "Clients")
        tap(page, phone, page.locator("form.create-box button"))
        expect(page.locator(".flash.ok")).to_have_text("Mailbox Clients created.")
        expect(page.locator('nav.boxes li[data-mailbox="Clients"]')).to_be_visible()
        page.fill("#new-box", "bad*name")
        tap(page, phone, page.locator("form.create-box button"))
        expect(page.locator("#mailbox-error")).to_contain_text(
            "“bad*name” cannot be a mailbox name"
        )
        expect(page.locator("#new-box")).to_have_value("bad*name")
        assert page_width(page) <= width, page_width(page)
        shot(page, "mailbox-error")
        projects = page.locator('table.boxlist tr[data-mailbox="Projects"]')
        projects.locator("input[name=new]").fill("Projects 2026")
        tap(page, phone, projects.locator("button[value=rename]"))
        expect(page.locator(".flash.ok")).to_have_text("Mailbox Projects renamed to Projects 2026.")
        renamed = page.locator('table.boxlist tr[data-mailbox="Projects 2026"]')
        tap(page, phone, renamed.locator("button[value=delete]"))
        confirm = page.locator("form.confirm")
        expect(confirm).to_contain_text("Delete the mailbox Projects 2026 and its 1 message?")
        expect(page.locator('table.boxlist tr[data-mailbox="Projects 2026"]')).to_have_count(1)
        shot(page, "mailbox-confirm")
        tap(page, phone, confirm.locator("button[value=yes]"))
        expect(page.locator(".flash.ok")).to_have_text(
            "Mailbox Projects 2026 deleted with 1 message."
        )
        expect(page.locator('table.boxlist tr[data-mailbox="Projects 2026"]')).to_have_count(0)
        assert page_width(page) <= width, page_width(page)
        shot(page, "mailboxes")

        # Select two conversations, mark them read (four messages).
        tap(page, phone, page.locator('nav.boxes li[data-mailbox="Inbox"] a'))
        tap(page, phone, row(page, "Re: Trip plans").locator("input.pick"))
        tap(page, phone, row(page, "Other two").locator("input.pick"))
        tap(page, phone, page.locator("#bulk button[value=read]"))
        expect(page.locator(".flash.ok")).to_have_text("4 messages marked read.")
        expect(page.locator("table.messages tr.unseen")).to_have_count(1)
        expect(page.locator("h1")).to_contain_text("6 messages, 1 unread")

        # Move: a desktop drags a row onto a mailbox; a phone selects and taps Move.
        if phone:
            tap(page, phone, row(page, "Re: Trip plans").locator("input.pick"))
            page.select_option("#move-target", "Clients")
            tap(page, phone, page.locator("#bulk-move"))
        else:
            row(page, "Re: Trip plans").drag_to(
                page.locator('nav.boxes li[data-mailbox="Clients"]')
            )
        expect(page.locator(".flash.ok")).to_have_text("3 messages moved to Clients.")
        expect(page.locator("table.messages td.subject a.open")).to_have_text(
            ["Other three", "Other two", "Other one"]
        )
        shot(page, "moved")
        tap(page, phone, page.locator('nav.boxes li[data-mailbox="Clients"] a'))
        expect(page.locator("table.messages .thread-count")).to_have_text("3")

        # Empty Trash, after saying yes.
        tap(page, phone, page.locator('nav.boxes li[data-mailbox="Trash"] a'))
        tap(page, phone, page.locator("form.empty-box button"))
        confirm = page.locator("form.confirm")
        expect(confirm).to_contain_text("Delete the 2 messages in Trash for good?")
        shot(page, "empty-confirm")
        tap(page, phone, confirm.locator("button[value=yes]"))
        expect(page.locator(".flash.ok")).to_have_text("Trash emptied: 2 messages deleted.")
        expect(page.locator("table.messages")).to_contain_text("No messages.")
        assert page_width(page) <= width, page_width(page)
        assert not errors, errors


def focused(page: Any) -> str:
    """The focused element: its text, or its name for a field."""
    text: str = page.evaluate(
        "() => { const e = document.activeElement; return e.name || e.id || e.textContent.trim(); }"
    )
    return text


def outline_visible(page: Any) -> bool:
    visible: bool = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0; }"
    )
    return visible


@pytest.mark.parametrize("width", WIDTHS)
def test_keyboard_only(instance: Instance, width: int) -> None:
    """Keys only, from the login on: no click or tap anywhere."""
    from playwright.sync_api import expect

    shot = screenshots(f"conversations-{width}")
    base = instance.base
    with chromium_page(width=width, height=900, timeout_ms=20_000) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        kb = page.keyboard
        page.goto(base + "/webmail/login")
        page.focus("input[name=address]")
        kb.type(ADDRESS)
        kb.press("Tab")
        kb.type(PASSWORD)
        kb.press("Enter")
        page.wait_for_url(base + "/webmail/mailbox?name=Inbox")

        # "?" opens the help overlay, Escape closes it.
        kb.press("?")
        help_ = page.locator("dialog#keys-help")
        expect(help_).to_be_visible()
        expect(help_).to_contain_text("next / previous conversation")
        shot(page, "keys-help")
        kb.press("Escape")
        expect(help_).to_be_hidden()

        # Tab reaches the links with a visible focus ring.
        kb.press("Tab")
        assert outline_visible(page), focused(page)

        # j/k go through the rows, the focus ring on the current one.
        kb.press("j")
        kb.press("j")
        current = page.locator("tr.current-row")
        expect(current.locator("a.open")).to_have_text("Re: Trip plans")
        expect(current.locator("a.open")).to_be_focused()
        assert outline_visible(page)
        kb.press("j")
        kb.press("k")
        expect(current.locator("a.open")).to_have_text("Re: Trip plans")
        shot(page, "keys-current-row")

        # x selects "Other two", m goes to "Move to", Enter moves it to Archive.
        kb.press("j")
        kb.press("x")
        expect(row(page, "Other two").locator("input.pick")).to_be_checked()
        kb.press("m")
        expect(page.locator("#move-target")).to_be_focused()
        expect(page.locator("#move-target")).to_have_value("Archive")
        kb.press("Enter")
        expect(page.locator(".flash.ok")).to_have_text("1 message moved to Archive.")

        # Delete moves the current conversation (all three of it) to Trash. Each
        # key's effect is awaited: right after the reload a key pressed before
        # the page's script is ready does nothing.
        current_subject = page.locator("tr.current-row a.open")
        for _ in range(20):
            kb.press("j")
            if current_subject.count() and current_subject.inner_text().strip():
                break
            page.wait_for_timeout(100)
        expect(current_subject).to_have_text("Other three")
        kb.press("j")
        expect(current_subject).to_have_text("Re: Trip plans")
        kb.press("Delete")
        expect(page.locator(".flash.ok")).to_have_text("3 messages moved to Trash.")
        expect(page.locator("table.messages td.subject a.open")).to_have_text(
            ["Other three", "Other one"]
        )

        # o opens, r / a / f start a reply, reply to all, forward; Enter opens too.
        kb.press("j")
        kb.press("o")
        expect(page.locator("h1.subject")).to_have_text("Other three")
        kb.press("r")
        expect(page).to_have_url(re.compile(r"/webmail/compose\?reply=\d+$"))
        expect(page.locator("input[name=subject]")).to_have_value("Re: Other three")
        # Typing in a field fires no shortcut.
        page.focus("#to")
        kb.press("End")
        kb.type(", jkrac/?")
        expect(page.locator("#to")).to_have_value("dan@example.org, jkrac/?")
        expect(help_).to_be_hidden()
        assert "/compose?reply=" in page.url
        page.go_back()
        expect(page.locator("h1.subject")).to_have_text("Other three")
        kb.press("a")
        expect(page.locator("input[name=subject]")).to_have_value("Re: Other three")
        page.go_back()
        kb.press("f")
        expect(page.locator("input[name=subject]")).to_have_value("Fwd: Other three")
        page.go_back()
        # Delete on a message moves it to Trash.
        kb.press("Delete")
        expect(page.locator(".flash.ok")).to_have_text("Message moved to Trash.")

        # "/" searches; Enter on a result opens it; c composes.
        kb.press("/")
        expect(page.locator("header form.search input[name=q]")).to_be_focused()
        kb.type("Other")
        kb.press("Enter")
        expect(page.locator("h1")).to_contain_text("for “Other”")
        kb.press("j")
        kb.press("Enter")
        expect(page.locator("h1.subject")).to_contain_text("Other")
        kb.press("c")
        expect(page).to_have_url(base + "/webmail/compose")
        assert page_width(page) <= width, page_width(page)
        shot(page, "keys-compose")
        assert not errors, errors
