"""Fuzzing the webmail sanitiser: corpus payloads spliced and mutated with
HTML-significant fragments; nothing unsafe may survive, as a browser parses it
(html_safety.py). `make fuzz` runs this with many more examples."""

from __future__ import annotations

from html_safety import canonical, problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xss_corpus import CORPUS

from postel.web.webmail.sanitize import sanitize_html

FRAGMENTS = [
    "<",
    ">",
    "</",
    "/>",
    '"',
    "'",
    "`",
    "=",
    " ",
    "\n",
    "\x00",
    "\x0c",
    "&",
    "&#x6a;",
    "&lt;",
    "<!--",
    "-->",
    "--!>",
    "<![CDATA[",
    "]]>",
    "<!",
    "<?",
    "<svg>",
    "</svg>",
    "<math>",
    "</math>",
    "<mtext>",
    "<mglyph>",
    "<mi>",
    "<style>",
    "</style>",
    "<noscript>",
    "</noscript>",
    "<template>",
    "</template>",
    "<table>",
    "<td>",
    "<textarea>",
    "</textarea>",
    "<title>",
    "<xmp>",
    "<noembed>",
    "<select>",
    "<option>",
    "<form>",
    "<p>",
    "</p>",
    "<a ",
    "<a href=",
    "<img src=x onerror=alert(1)>",
    "<img src=",
    "<b title='",
    '<div style="',
    "onerror=alert(1) ",
    "javascript:",
    "java\tscript:",
    "data:text/html,",
    "https://evil.example/",
    "//evil.example/",
    "url(",
    "u\\72l(",
    "expression(",
    "@import ",
    "}",
    "{",
    ";",
    "/*",
    "*/",
]
PAYLOADS = [payload for _, payload in CORPUS]


@st.composite
def mutated_html(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(PAYLOADS), min_size=1, max_size=3))
    text = "".join(parts)
    for _ in range(draw(st.integers(0, 12))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "dup"]))
        if op == "insert":
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
        else:
            j = draw(st.integers(i, min(len(text), i + 40)))
            text = text[:i] + text[i:j] + text[i:]
    return text


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_html(), st.booleans())
def test_fuzz_sanitizer_output_is_safe(source: str, allow_remote: bool) -> None:
    s = sanitize_html(source, allow_remote=allow_remote)
    assert problems(s, allow_remote=allow_remote) == [], (source, s.body, s.css)
    assert canonical(sanitize_html(s.body, allow_remote=allow_remote).body) == canonical(s.body)
