"""The webmail sanitiser against a public corpus of sanitiser bypasses
(xss_corpus.py cites the sources), checked as a browser parses the output
(html_safety.py), and its CSS allowlist."""

from __future__ import annotations

import pytest
from html_safety import canonical, problems
from xss_corpus import CORPUS

from postel.web.webmail.flatten import DIRECT_TAGS
from postel.web.webmail.sanitize import sanitize_css_declarations, sanitize_html

IDS = [name for name, _ in CORPUS]


@pytest.mark.parametrize(("name", "payload"), CORPUS, ids=IDS)
def test_corpus_payload_is_neutralised(name: str, payload: str) -> None:
    s = sanitize_html(payload)
    assert problems(s) == [], (payload, s.body, s.css)
    assert s.remote_blocked == 0 or "evil.example" not in s.body
    # Stable under a second pass: nothing in the output changes meaning when parsed again.
    assert canonical(sanitize_html(s.body).body) == canonical(s.body)


@pytest.mark.parametrize(("name", "payload"), CORPUS, ids=IDS)
def test_corpus_payload_with_remote_images_allowed(name: str, payload: str) -> None:
    # Allowing remote images lets http(s) <img src> through and nothing else.
    s = sanitize_html(payload, allow_remote=True)
    assert problems(s, allow_remote=True) == [], (payload, s.body, s.css)


@pytest.mark.parametrize(("name", "payload"), CORPUS, ids=IDS)
def test_corpus_payload_in_a_large_mail(name: str, payload: str) -> None:
    # Large mail is flattened before nh3 sees it (flatten.py): the same must hold.
    s = sanitize_html(payload + "<br>" * DIRECT_TAGS)
    assert problems(s) == [], (payload, s.body[:2000], s.css)


def test_whole_corpus_as_one_message() -> None:
    # Payloads left open (unclosed tags, comments, raw text) run into the next ones.
    source = "\n".join(payload for _, payload in CORPUS)
    s = sanitize_html(source)
    assert problems(s) == []
    assert "evil.example" not in s.body and "evil.example" not in s.css


def test_no_remote_load_survives_without_consent() -> None:
    s = sanitize_html("\n".join(payload for _, payload in CORPUS if "evil.example" in payload))
    hrefs_removed = s.body.replace('href="https://evil.example', "")
    assert "evil.example" not in hrefs_removed and "evil.example" not in s.css


def test_css_properties_are_an_allowlist() -> None:
    style = (
        "position: fixed; top: 0; left: 0; z-index: 9999; color: red; cursor: pointer; "
        "transform: scale(9); -webkit-user-modify: read-write; mso-line-height-rule: exactly; "
        "font-weight: bold"
    )
    assert sanitize_css_declarations(style) == "color: red; font-weight: bold"
    out = sanitize_html(f'<div style="{style}">Log in again</div>').body
    assert out == '<div style="color:red;font-weight:bold">Log in again</div>'


@pytest.mark.parametrize(
    "decl",
    [
        "width: calc(100% - 2px)",
        "background: var(--u)",
        "color: attr(data-c)",
        "width: env(safe-area-inset-left)",
        "background: red image(red)",
        "font-family: 'x\\'",
        "color: red; --u: 1px",
        "color: #12345g",
        "width: 10furlongs",
        "color: rgb(1, 2, calc(3))",
        "color: \u00a0red",
    ],
)
def test_css_values_outside_the_grammar_are_dropped(decl: str) -> None:
    kept = sanitize_css_declarations(decl)
    assert kept in ("", "color: red"), kept


@pytest.mark.parametrize(
    "decl",
    [
        "color: rgb(1, 2, 3)",
        "color: #ee4c50",
        "background-color: rgba(0, 0, 0, 0.5)",
        'font: 12px/1.4 "Helvetica Neue", Arial, sans-serif',
        "margin: 0 auto !important",
        "padding: 36px 30px 42px 30px",
        "border: 1px solid #ccc",
        "width: 100%",
        "line-height: 1.5em",
        "display: none",
        "font-family: 'Segoe UI', Roboto",
    ],
)
def test_css_values_in_the_grammar_are_kept(decl: str) -> None:
    assert sanitize_css_declarations(decl) == decl


def test_stylesheet_in_head_is_kept_and_sanitised() -> None:
    source = (
        "<html><head><title>News</title><style type='text/css'>\n"
        "body { margin: 0; background-color: #f4f4f4 }\n"
        ".hero { position: fixed; background-image: url(https://cdn.example/hero.jpg) }\n"
        "@media screen and (max-width: 600px) { td { display: block !important } }\n"
        "@font-face { font-family: x; src: url(https://cdn.example/f.woff) }\n"
        "</style></head><body><p>x</p></body></html>"
    )
    s = sanitize_html(source)
    assert s.body == "<p>x</p>"
    assert "body { margin: 0; background-color: #f4f4f4 }" in s.css
    assert "@media screen and (max-width: 600px) {\ntd { display: block !important }\n}" in s.css
    assert "hero" not in s.css and "url" not in s.css and "font-face" not in s.css
    query = "@media (min-width: 1px) and (max-width: 2px)"
    assert sanitize_html(f"<style>{query} {{ p {{ color: red }} }}").css == (
        f"{query} {{\np {{ color: red }}\n}}"
    )


def test_each_style_element_is_sanitised_on_its_own() -> None:
    # A sheet with an escape is refused whole (escapes can hide its structure);
    # the mail's other sheets stay.
    source = (
        "<style>.sm\\:hidden { display: none } p { color: red }</style>"
        "<style>td { padding: 4px }</style><p>x</p>"
    )
    assert sanitize_html(source).css == "td { padding: 4px }"


def test_urls_are_checked_as_the_browser_reads_them() -> None:
    # WHATWG URL §4.4: only leading/trailing C0 and spaces go, and tabs/newlines;
    # "H TTPS:" is a relative URL to a browser, not https (found by the fuzz test).
    s = sanitize_html('<img src="H TTPS://evil.example/x.png">', allow_remote=True)
    assert "evil" not in s.body and s.remote_blocked == 0
    assert "href" not in sanitize_html('<a href="ht tps://ok.example/">x</a>').body
    out = sanitize_html('<a href=" \x01https://ok.example/a\tb\n ">x</a>').body
    assert 'href="https://ok.example/ab"' in out
