"""Debian's chromium through Playwright for the browser tests; screenshots to
test-artifacts/ (kept by CI)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(
    *, width: int, height: int, timeout_ms: int, touch: bool = False
) -> Iterator[Any]:
    """A page of a headless chromium, closed on leaving. *touch*: a phone's touch
    screen (taps, no hover)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch
            )
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def screenshots(prefix: str) -> Callable[[Any, str], None]:
    """shot(page, name): a full-page screenshot to test-artifacts/<prefix>-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{prefix}-{name}.png"), full_page=True)

    return shot
