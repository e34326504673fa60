"""Issue 17 item 5 in Debian's chromium (Playwright), at a desktop width (1280 px)
and a phone width (390 px, touch screen), against a running postel on the test
network: the webmail's Settings link leads to the mail app settings of the
account's public listener (IMAPS and submissions, not the internal web
listener's), and the .mobileconfig download is a property list with them.
Screenshots: test-artifacts/settings-<width>-*.png."""

from __future__ import annotations

import plistlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import chromium_page, screenshots
from serverthread import serving
from webmailsite import Site, login, web_listener, write_site

from postel.config import Config
from postel.hostkeys import write_key_and_cert

pytestmark = pytest.mark.integration

LOCAL = "wm17e.test"
HOST = f"mail.{LOCAL}"
SITE = Site(LOCAL, f"you@{LOCAL}", "webmail password for client setup", "Phone User")
ADDRESS, PASSWORD = SITE.address, SITE.password
WEB_PORT = 8080
IMAPS_PORT = 10993
SUBMISSIONS_PORT = 10465


def write_config(root: Path, testnet: Any, ip: str) -> Config:
    conf = root / "config"
    write_key_and_cert(conf / "certs/host.key", conf / "certs/host.crt", [HOST])
    public = f"""[listeners.public]
ips = ["{ip}"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ enabled = false }}
submission = {{ enabled = false }}
submissions = {{ enabled = true, port = {SUBMISSIONS_PORT} }}
imaps = {{ enabled = true, port = {IMAPS_PORT} }}

"""
    return write_site(root, SITE, testnet.resolver_ip, public + web_listener(ip, WEB_PORT))


@dataclass
class Instance:
    cfg: Config
    base: str


@pytest.fixture
def instance(testnet: Any, tmp_path: Path) -> Iterator[Instance]:
    ip = testnet.ip()
    cfg = write_config(tmp_path, testnet, ip)
    with serving(cfg) as running:
        assert (ip, WEB_PORT, "webmail") in running.bound
        yield Instance(cfg, f"http://{ip}:{WEB_PORT}")


@pytest.mark.parametrize("width", [1280, 390])
def test_settings_offer_the_profile(instance: Instance, width: int, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    phone = width < 600
    shot = screenshots(f"settings-{width}")
    base = instance.base
    with chromium_page(width=width, height=900, timeout_ms=20_000, touch=phone) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, base, SITE)
        link = page.locator("header a.settings-link")
        if phone:
            link.tap()
        else:
            link.click()
        expect(page).to_have_url(base + "/webmail/settings")
        expect(page.locator("h2#mail-apps-title")).to_have_text("Mail apps")
        rows = page.locator("#client-settings tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text(str(IMAPS_PORT))
        expect(rows.nth(0)).to_contain_text(HOST)
        expect(rows.nth(1)).to_contain_text(str(SUBMISSIONS_PORT))
        expect(rows.nth(1)).to_contain_text(ADDRESS)
        button = page.locator("a#mobileconfig")
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        scroll: int = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= width, scroll
        shot(page, "page")
        with page.expect_download() as info:
            if phone:
                button.tap()
            else:
                button.click()
        download = info.value
        assert download.suggested_filename == f"{ADDRESS}.mobileconfig"
        saved = tmp_path / "profile.mobileconfig"
        download.save_as(saved)
        profile = plistlib.loads(saved.read_bytes())
        [mail] = profile["PayloadContent"]
        assert mail["PayloadType"] == "com.apple.mail.managed"
        assert mail["IncomingMailServerHostName"] == mail["OutgoingMailServerHostName"] == HOST
        assert mail["IncomingMailServerPortNumber"] == IMAPS_PORT
        assert mail["OutgoingMailServerPortNumber"] == SUBMISSIONS_PORT
        assert mail["EmailAccountName"] == "Phone User"
        assert PASSWORD.encode() not in saved.read_bytes()
        assert not errors, errors
