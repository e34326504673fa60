"""Issue 22 item 1 and 7 in Debian's chromium (Playwright), at a desktop width (1280 px)
and a phone width (390 px, touch screen), against a running postel on the test
network: readable unread rows, no page wider than the screen (message list,
compose, DNS records with an RSA DKIM key), To in Sent, "1 message", the login
returning to a deep link (webmail and admin), the admin's own "not found" page,
"No data yet" in empty charts, search from the header (item 2), and the compose
security bar: a local recipient delivered locally, a domain that does not exist
and one with neither MX nor address shown as errors before sending, tooltips
that open on tap or Enter.
Screenshots: test-artifacts/everyday-<width>-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from serverthread import serving
from webmailsite import Site, web_listener, write_site

from postel.config import Config
from postel.quickstart import write_dkim_keys
from postel.store import Store

pytestmark = pytest.mark.integration

LOCAL = "wm22.test"  # our own domain: its recipients are delivered locally
PLAIN = "wm22-plain.test"  # a remote domain with MX, unsigned
BARE = "wm22-bare.test"  # exists, but has neither MX nor address records
GONE = "wm22-gone.test"  # does not exist (NXDOMAIN from the test TLD)
ADMIN_PASSWORD = "admin password for issue 22"
SITE = Site(
    LOCAL,
    f"you@{LOCAL}",
    "webmail password for issue 22",
    "Everyday Tester",
    admin_password=ADMIN_PASSWORD,
)
ADDRESS, PASSWORD = SITE.address, SITE.password
WEB_PORT = 8080
ACCENT = "rgb(26, 95, 180)"  # --accent of webmail.css
FG = "rgb(27, 27, 27)"  # --fg


def write_config(root: Path, testnet: Any, ip: str) -> Config:
    conf = root / "config"
    conf.mkdir(parents=True)
    selectors = write_dkim_keys(conf, LOCAL, 2026)  # the RSA one is the long record
    dkim = [f'[domains."{LOCAL}".dkim]', f"sign = [{', '.join(repr(s) for s, _, _ in selectors)}]"]
    for sel, algo, key in selectors:
        dkim += [
            f'[domains."{LOCAL}".dkim.selectors."{sel}"]',
            f'algorithm = "{algo}"',
            f'key_file = "{key}"',
        ]
    return write_site(
        root,
        SITE,
        testnet.resolver_ip,
        web_listener(ip, WEB_PORT, admin=True),
        extra_domains="\n".join(dkim) + "\n",
    )


@dataclass
class Instance:
    cfg: Config
    base: str
    first_unread: int


@pytest.fixture
def instance(testnet: Any, tmp_path: Path) -> Iterator[Instance]:
    ip = testnet.ip()
    cfg = write_config(tmp_path, testnet, ip)
    testnet.set_zone(PLAIN, ["@ MX 10 mx", "mx A 192.0.2.26"], dnssec="unsigned")
    testnet.set_zone(BARE, ['@ TXT "v=spf1 -all"'], dnssec="unsigned")
    store = Store(cfg.datadir)
    acc = store.account("you")
    for i in range(1, 9):
        acc.deliver_bytes(
            "Inbox",
            (
                f"From: Someone With A Rather Long Name <someone.with.a.long.address{i}@{PLAIN}>"
                f"\r\nSubject: read message {i} with a subject long enough to need wrapping"
                "\r\n\r\nx\r\n"
            ).encode(),
            flags=["\\Seen"],
        )
    first = acc.deliver_bytes(
        "Inbox",
        (
            f"From: Alice <alice@{PLAIN}>\r\nTo: {ADDRESS}\r\nSubject: new and unread\r\n\r\nhi\r\n"
        ).encode(),
    )
    acc.deliver_bytes(
        "Inbox",
        f"From: Bob <bob@{PLAIN}>\r\nSubject: another unread one\r\n\r\nhi\r\n".encode(),
    )
    acc.deliver_bytes(
        "Sent",
        (
            f"From: {ADDRESS}\r\nTo: Carol <carol@{PLAIN}>\r\nSubject: what I sent\r\n\r\nx\r\n"
        ).encode(),
        flags=["\\Seen"],
    )
    store.close()
    with serving(cfg) as running:
        assert (ip, WEB_PORT, "webmail") in running.bound
        yield Instance(cfg, f"http://{ip}:{WEB_PORT}", first.msgid)


def page_width(page: Any) -> int:
    """How wide the page is laid out: wider than the viewport means sideways scrolling."""
    width: int = page.evaluate("() => document.documentElement.scrollWidth")
    return width


def style(locator: Any, prop: str) -> str:
    value: str = locator.evaluate(f"e => getComputedStyle(e).{prop}")
    return value


def settled(page: Any, count: int) -> None:
    page.wait_for_function(
        """(count) => {
            const rows = document.querySelectorAll('#security-to .rcpt');
            return rows.length === count && Array.from(rows).every(
                r => r.dataset.state === 'done' || r.dataset.state === 'failed');
        }""",
        arg=count,
        timeout=30_000,
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_everyday_webmail_and_admin(instance: Instance, width: int) -> None:
    from playwright.sync_api import expect

    phone = width < 600
    shot = screenshots(f"everyday-{width}")
    base = instance.base
    with chromium_page(width=width, height=900, timeout_ms=20_000, touch=phone) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # A deep link before logging in: the login returns to it, not to Inbox.
        deep = f"/webmail/msg/{instance.first_unread}"
        page.goto(base + deep)
        expect(page).to_have_url(f"{base}/webmail/login?next={deep}")
        page.fill("input[name=address]", ADDRESS)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(base + deep)
        expect(page.locator("h1.subject")).to_have_text("new and unread")
        shot(page, "deep-link")

        # The list: unread rows are bold on white, their links in the text colour;
        # only the mailbox's unread count is a blue badge. Nothing wider than the screen.
        page.goto(base + "/webmail/mailbox?name=Inbox")
        expect(page.locator("h1")).to_contain_text("10 messages, 1 unread")
        unread = page.locator("table.messages tr.unseen")
        expect(unread).to_have_count(1)
        cell = unread.locator("td.subject")
        assert style(cell, "backgroundColor") in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
        assert style(unread, "backgroundColor") in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
        assert style(cell, "fontWeight") == "700"
        link = cell.locator("a")
        assert style(link, "color") == FG
        assert style(link, "textDecorationLine") == "none"
        badge = page.locator("nav.boxes li.current .count")
        expect(badge).to_have_text("1")
        assert style(badge, "backgroundColor") == ACCENT
        assert page_width(page) <= width, page_width(page)
        shot(page, "inbox")

        # Sent lists recipients under "To"; one message is "1 message".
        page.click("nav.boxes >> text=Sent")
        expect(page.locator("h1")).to_contain_text("1 message")
        expect(page.locator("h1")).not_to_contain_text("1 messages")
        expect(page.locator("table.messages th").first).to_have_text("To")
        expect(page.locator("table.messages td.party").first).to_contain_text(f"carol@{PLAIN}")
        assert page_width(page) <= width
        shot(page, "sent")

        # Search (item 2) from the header: by sender, and by words of the text.
        box = page.locator("header form.search input[name=q]")
        box.fill(f"from:bob@{PLAIN}")
        box.press("Enter")
        expect(page.locator("h1")).to_contain_text(f"1 result for “from:bob@{PLAIN}”")
        expect(page.locator("table.messages td.subject")).to_have_text(["another unread one"])
        page.locator("header form.search input[name=q]").fill("wrapping -message")
        page.locator("header form.search input[name=q]").press("Enter")
        expect(page.locator("table.messages")).to_contain_text("No messages match.")
        page.locator("header form.search input[name=q]").fill("subject:wrapping")
        page.locator("header form.search input[name=q]").press("Enter")
        expect(page.locator("table.messages td.subject")).to_have_count(8)
        assert page_width(page) <= width, page_width(page)
        shot(page, "search")

        # Compose: a local recipient, a domain that does not exist, one without MX or
        # address, and an ordinary remote one.
        page.click("a.compose-link")
        to = page.locator("#to")
        to.click()
        rcpts = [ADDRESS, f"x@{GONE}", f"y@{BARE}", f"bob@{PLAIN}"]
        to.press_sequentially(", ".join(rcpts), delay=10)
        settled(page, len(rcpts))
        local = page.locator(f'#security-to .rcpt[data-address="{ADDRESS}"]')
        expect(local).to_have_attribute("data-delivery", "local")
        expect(local.locator(".note.local")).to_have_text(
            "Delivered locally: the message never leaves this server."
        )
        expect(local.locator(".bar")).to_be_hidden()
        gone = page.locator(f'#security-to .rcpt[data-address="x@{GONE}"]')
        expect(gone).to_have_attribute("data-delivery", "nodomain")
        expect(gone.locator(".note.problem")).to_contain_text(f"The domain {GONE} does not exist")
        bare = page.locator(f'#security-to .rcpt[data-address="y@{BARE}"]')
        expect(bare).to_have_attribute("data-delivery", "nohost")
        expect(bare.locator(".note.problem")).to_contain_text("neither MX nor address records")
        problems = page.locator("#recipient-problems")
        expect(problems).to_be_visible()
        expect(problems).to_contain_text("2 recipients cannot receive mail")
        plain = page.locator(f'#security-to .rcpt[data-address="bob@{PLAIN}"]')
        expect(plain).to_have_attribute("data-delivery", "remote")
        expect(plain.locator('.seg[data-aspect="dnssec"]')).to_have_attribute("data-value", "no")
        assert page_width(page) <= width, page_width(page)
        shot(page, "compose-bar")

        # The tooltip opens without a mouse: a tap on a phone, Enter on a desktop.
        seg = plain.locator('.seg[data-aspect="dnssec"]')
        if phone:
            seg.tap()
        else:
            seg.focus()
            page.keyboard.press("Enter")
        tip = plain.locator(".tip")
        expect(tip).to_be_visible()
        expect(tip).to_contain_text(f"The MX records of {PLAIN} are not DNSSEC-signed")
        expect(seg).to_have_attribute("aria-expanded", "true")
        assert page_width(page) <= width
        shot(page, "compose-tooltip")
        if phone:
            seg.tap()
        else:
            page.keyboard.press("Enter")
        expect(tip).to_have_count(0)

        # Only the local recipient: no error, REQUIRETLS not needed.
        to.fill(ADDRESS)
        to.dispatch_event("change")
        settled(page, 1)
        expect(problems).to_be_hidden()
        expect(page.locator("#requiretls-hint")).to_have_text(
            "Every recipient is on this server: the message never leaves it."
        )
        assert not errors, errors

        # The admin: a deep link survives the login; an unknown URL gets the admin's
        # own page (styled, with its navigation), status 404.
        missing = "/admin/no/such/page"
        page.goto(base + missing)
        expect(page).to_have_url(f"{base}/admin/login?next={missing}")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("text=Log in")
        expect(page).to_have_url(base + missing)
        expect(page.locator("h1")).to_have_text("Not found")
        expect(page.locator("main")).to_contain_text(missing)
        assert style(page.locator("header"), "backgroundColor") == "rgb(32, 38, 46)"
        expect(page.locator("header a.brand")).to_have_text("postel admin")
        response = page.request.get(base + missing)
        assert response.status == 404
        assert page_width(page) <= width
        shot(page, "admin-404")

        # Empty report charts say so, without axes.
        page.goto(base + "/admin/tlsrpt")
        empty = page.locator("svg.chart.empty")
        expect(empty).to_have_count(2)
        expect(empty.first).to_contain_text("No data yet")
        assert page.locator("svg.chart line").count() == 0
        shot(page, "admin-empty-charts")

        # The DNS records page with a 2048-bit RSA DKIM key stays as wide as the screen.
        page.goto(f"{base}/admin/domains/{LOCAL}/dns")
        expect(page.locator("table.records")).to_contain_text("v=DKIM1; k=rsa")
        assert page_width(page) <= width, page_width(page)
        shot(page, "admin-dns-records")
        assert not errors, errors
