"""The sanitiser's output for every corpus payload (tests/webmail/xss_corpus.py),
rendered by Debian's chromium with scripts enabled and no CSP: no dialog opens,
no request is made, and the DOM chromium built holds no script, event handler,
foreign element or javascript:/data: link. The message frame's sandbox and CSP
are left out on purpose: this checks the sanitiser alone."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS

from postel.web.webmail.flatten import DIRECT_TAGS
from postel.web.webmail.sanitize import sanitize_html

pytestmark = pytest.mark.integration

# No name resolves and every request is answered by the test: nothing leaves.
ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND", "--dns-prefetch-disable"]

# Walks the DOM chromium built; returns what must not be there.
DOM_CHECK = """() => {
  const bad = [];
  const htmlNs = "http://www.w3.org/1999/xhtml";
  for (const el of document.querySelectorAll("#cases *")) {
    const where = (el.closest("[data-case]") || {}).dataset?.case;
    if (el.namespaceURI !== htmlNs) bad.push([where, "foreign " + el.tagName]);
    const tag = el.localName;
    if (["script", "iframe", "object", "embed", "form", "input", "base", "meta", "link",
         "style", "svg", "math", "template", "frame", "frameset"].includes(tag))
      bad.push([where, "element " + tag]);
    for (const a of el.attributes) {
      const v = a.value.replace(/[\\u0000-\\u0020]/g, "").toLowerCase();
      if (a.name.startsWith("on")) bad.push([where, "handler " + a.name]);
      if (a.name === "href" && !/^(https?|mailto):/.test(v)) bad.push([where, "href " + v]);
      if (a.name === "src" && !/^data:image\\//.test(v)) bad.push([where, "src " + v]);
      if (["srcset", "background", "poster", "action", "formaction", "ping"].includes(a.name))
        bad.push([where, "attribute " + a.name]);
    }
  }
  return bad;
}"""


def corpus() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "webmail" / "xss_corpus.py"
    spec = importlib.util.spec_from_file_location("xss_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_for(pad: str) -> str:
    cases, sheets = [], []
    for i, (name, payload) in enumerate(corpus().CORPUS):
        s = sanitize_html(payload + pad)
        cases.append(f'<div data-case="{i} {html.escape(name)}">{s.body}</div>')
        sheets.append(s.css)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        + "\n".join(sheets)
        + "</style></head><body><div id='cases'>"
        + "\n".join(cases)
        + "</div></body></html>"
    )


def render(content: str) -> tuple[list[str], list[str], list[list[str]], int]:
    """Dialogs opened, requests made, DOM findings and cases shown for *content*."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(java_script_enabled=True)
            page.set_default_timeout(30_000)

            def refuse(route: Any) -> None:
                requests.append(route.request.url)
                route.abort()

            def dismiss(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.route("**/*", refuse)
            page.on("dialog", dismiss)
            page.set_content(content, wait_until="load")
            page.wait_for_timeout(500)  # timers, autofocus, late onerror
            bad = page.evaluate(DOM_CHECK)
            shown = page.evaluate("() => document.querySelectorAll('[data-case]').length")
        finally:
            browser.close()
    return dialogs, requests, bad, shown


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")


@needs_chromium
@pytest.mark.parametrize("pad", ["", "<br>" * DIRECT_TAGS], ids=["direct", "flattened"])
def test_corpus_in_chromium(pad: str) -> None:
    dialogs, requests, bad, shown = render(page_for(pad))
    assert shown == len(corpus().CORPUS)
    assert dialogs == []
    assert requests == []
    assert bad == []


@needs_chromium
def test_harness_sees_unsanitised_markup() -> None:
    # The same page with raw payloads: the checks above are not vacuous.
    raw = (
        "<div id='cases'><div data-case='raw'><img src=x onerror=alert(1)>"
        "<img src='https://evil.example/x.png'><a href='javascript:alert(2)'>x</a>"
        "<svg><g onload=alert(3)></g></svg></div></div>"
    )
    dialogs, requests, bad, shown = render(raw)
    assert shown == 1
    assert dialogs == ["1"]
    assert any("evil.example" in url for url in requests)
    found = {what for _, what in bad}
    assert {"handler onerror", "href javascript:alert(2)", "foreign svg"} <= found
