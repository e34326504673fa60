"""An allowlist HTML sanitiser for displaying received messages (html.parser based).

Only known-harmless elements and attributes pass; scripts, event handlers,
frames, forms, ``url()`` in CSS and non-http(s)/mailto links are removed.
Links open in a new browsing context with ``rel=noopener``. Remote images
(http/https ``src``) are replaced by a placeholder unless *allow_remote*.
The output is re-serialised from the parse with every text and attribute
escaped, so what the browser parses is what was checked here. The result is
shown in a sandboxed iframe (no scripts) under a strict CSP as well.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ALLOWED_TAGS = _words(
    """a abbr acronym address article aside b bdi bdo big blockquote br caption center cite
    code col colgroup dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3
    h4 h5 h6 header hr i img ins kbd li main mark nav ol p pre q rp rt ruby s samp section
    small span strike strong sub summary sup table tbody td tfoot th thead time tr tt u ul
    var wbr"""
)
# Dropped together with everything inside them.
DROP_WITH_CONTENT = _words(
    """script style title iframe frame frameset object embed applet svg math template
    noembed xmp plaintext textarea select option head"""
)
VOID_TAGS = _words("br hr img col wbr")
ALLOWED_ATTRS = _words(
    """title alt width height align valign border cellpadding cellspacing colspan rowspan
    dir lang style bgcolor color face size start type summary span hspace vspace nowrap
    datetime cite reversed"""
)
URL_ATTRS = {"a": "href", "img": "src"}
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_DATA = re.compile(r"^data:image/(png|gif|jpeg|jpg|webp);base64,[a-z0-9+/=\s]*$", re.I)
PLACEHOLDER = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='120' height='24'%3E"
    "%3Crect width='100%25' height='100%25' fill='%23eee' stroke='%23999'/%3E%3Ctext x='6' "
    "y='16' font-size='11' fill='%23555'%3Eremote image%3C/text%3E%3C/svg%3E"
)
# CSS: no url()/image functions, imports, expressions, bindings, escapes or markup.
_CSS_BAD = re.compile(
    r"url\s*\(|image(-set)?\s*\(|@import|expression|behavior|-moz-binding|javascript:|[\\<>]",
    re.I,
)
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.S)
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")

# A cid: URL resolver: content-id -> data: URL (or None when unknown).
CidResolver = Callable[[str], str | None]


def clean_url(value: str) -> str:
    """*value* without whitespace/control characters (browsers ignore them in schemes)."""
    return _CONTROL.sub("", value)


def sanitize_css_declarations(style: str) -> str:
    """A style attribute with every declaration that could load or run anything removed."""
    style = _CSS_COMMENT.sub("", style)
    out = []
    for decl in style.split(";"):
        decl = decl.strip()
        if not decl or ":" not in decl or _CSS_BAD.search(decl):
            continue
        out.append(decl)
    return "; ".join(out)


def sanitize_stylesheet(css: str) -> str:
    """A <style> block: rules with forbidden content are dropped whole."""
    css = _CSS_COMMENT.sub("", css)
    if "\\" in css or "<" in css:
        return ""
    out = []
    for rule in re.split(r"(?<=\})", css):
        if rule.strip() and not _CSS_BAD.search(rule) and "@" not in rule.split("{", 1)[0]:
            out.append(rule.strip())
    return "\n".join(out)


class _Sanitizer(HTMLParser):
    def __init__(self, allow_remote: bool, cid: CidResolver | None) -> None:
        super().__init__(convert_charrefs=True)
        self.allow_remote = allow_remote
        self.cid = cid
        self.out: list[str] = []
        self.stack: list[str] = []
        self.drop_depth = 0
        self.drop_tag = ""
        self.in_style = False
        self.remote_blocked = 0
        self.styles: list[str] = []

    # -- elements -------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, selfclosing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, selfclosing=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], selfclosing: bool) -> None:
        tag = tag.lower()
        if self.drop_depth:
            if tag == self.drop_tag and not selfclosing:
                self.drop_depth += 1
            return
        if tag == "style" and not selfclosing:
            self.in_style = True
            self.drop_tag, self.drop_depth = tag, 1
            return
        if tag in DROP_WITH_CONTENT:
            if not selfclosing and tag not in VOID_TAGS:
                self.drop_tag, self.drop_depth = tag, 1
            return
        if tag not in ALLOWED_TAGS:
            return
        parts = [tag]
        for name, value in self._attrs(tag, attrs):
            parts.append(f'{name}="{html.escape(value, quote=True)}"')
        self.out.append("<" + " ".join(parts) + ">")
        if tag not in VOID_TAGS and not selfclosing:
            self.stack.append(tag)
        elif tag not in VOID_TAGS:
            self.out.append(f"</{tag}>")

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, raw in attrs:
            name = name.lower()
            value = raw or ""
            if name in seen:
                continue
            seen.add(name)
            if URL_ATTRS.get(tag) == name:
                url = self._url(tag, value)
                if url is not None:
                    out.append((name, url))
            elif name == "style":
                css = sanitize_css_declarations(value)
                if css:
                    out.append((name, css))
            elif name in ALLOWED_ATTRS:
                out.append((name, value))
        if tag == "a":
            out = [(n, v) for n, v in out if n not in ("target", "rel")]
            out += [("target", "_blank"), ("rel", "noopener noreferrer")]
        if tag == "img" and not any(n == "src" for n, _ in out):
            out.append(("src", PLACEHOLDER))
        return out

    def _url(self, tag: str, value: str) -> str | None:
        url = clean_url(value)
        low = url.lower()
        if tag == "a":
            return url if low.startswith(LINK_SCHEMES) else None
        # img src
        if low.startswith(("http:", "https:", "//")):
            if self.allow_remote and not low.startswith("//"):
                return url
            self.remote_blocked += 1
            return PLACEHOLDER
        if low.startswith("cid:") and self.cid is not None:
            return self.cid(value.strip()[4:]) or PLACEHOLDER
        if IMAGE_DATA.match(url):
            return url
        return PLACEHOLDER

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.drop_depth:
            if tag == self.drop_tag:
                self.drop_depth -= 1
                if not self.drop_depth:
                    self.drop_tag = ""
                    self.in_style = False
            return
        if tag not in self.stack:
            return
        while self.stack:
            open_tag = self.stack.pop()
            self.out.append(f"</{open_tag}>")
            if open_tag == tag:
                break

    # -- text -----------------------------------------------------------

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.styles.append(data)
            return
        if self.drop_depth:
            return
        self.out.append(html.escape(data, quote=False))

    def finish(self) -> str:
        self.close()
        while self.stack:
            self.out.append(f"</{self.stack.pop()}>")
        return "".join(self.out)


class Sanitized:
    """The sanitised body, its sanitised stylesheet and how many remote images were blocked."""

    def __init__(self, body: str, css: str, remote_blocked: int) -> None:
        self.body = body
        self.css = css
        self.remote_blocked = remote_blocked


def sanitize_html(
    source: str, *, allow_remote: bool = False, cid: CidResolver | None = None
) -> Sanitized:
    """Sanitise an HTML message body (see the module docstring)."""
    p = _Sanitizer(allow_remote, cid)
    p.feed(source)
    body = p.finish()
    css = sanitize_stylesheet("\n".join(p.styles))
    return Sanitized(body, css, p.remote_blocked)


def frame_document(s: Sanitized, *, allow_remote: bool) -> str:
    """A complete document for an iframe srcdoc, with its own restrictive CSP."""
    img = "data: https: http:" if allow_remote else "data:"
    csp = (
        f"default-src 'none'; img-src {img}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'"
    )
    style = f"<style>{s.css}</style>" if s.css else ""
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">'
        '<meta name="referrer" content="no-referrer">'
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:8px;word-wrap:break-word}"
        "img{max-width:100%;height:auto}</style>"
        f"{style}</head><body>{s.body}</body></html>"
    )
