"""The sanitiser for displaying received HTML mail: nh3 (Ammonia) for the
structure, postel's own rules for URLs, remote images and CSS.

nh3 parses the message as a browser does (html5ever, the WHATWG algorithm,
foreign content included) and re-serialises it from the tree with only the
allowlisted elements and attributes, so what the browser parses is what was
checked here (no mutation-XSS through a second, different parse). Scripts,
styles, frames, forms, ``<svg>``/``<math>`` and similar go with their content;
other unknown elements lose their tags and keep their text. Comments go.
Mail with many tags has its nesting bounded first (:mod:`.flatten`), since
the tree builder's cost grows with depth.

On top of that, for every attribute nh3 keeps (:func:`_AttrPolicy.__call__`):
links only to http(s)/mailto, opened in a new browsing context with
``rel=noopener noreferrer``; images only from ``data:`` (png/gif/jpeg/webp),
``cid:`` parts of the message, or, when *allow_remote*, http(s); other
images become a placeholder, and remote ones are counted. Style attributes
and ``<style>`` sheets keep only allowlisted CSS (:mod:`.css`). The result is
shown in a sandboxed iframe (no scripts) under a strict CSP as well.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import nh3

from postel.web.webmail.css import PROPERTIES as CSS_PROPERTIES
from postel.web.webmail.css import sanitize_css_declarations, sanitize_stylesheet
from postel.web.webmail.flatten import flatten, needs_flattening

__all__ = [
    "PLACEHOLDER",
    "CidResolver",
    "Sanitized",
    "clean_url",
    "frame_document",
    "sanitize_css_declarations",
    "sanitize_html",
    "sanitize_stylesheet",
]


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
    """script style title iframe frame frameset noframes object embed applet svg math
    template noembed noscript xmp plaintext textarea select option head audio video canvas"""
)
ALLOWED_ATTRS = _words(
    """title alt width height align valign border cellpadding cellspacing colspan rowspan
    dir lang style bgcolor color face size start type summary span hspace vspace nowrap
    datetime cite reversed"""
)
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_DATA = re.compile(r"^data:image/(png|gif|jpeg|jpg|webp);base64,[a-z0-9+/=\s]*$", re.I)
# No quote characters, so it reads the same in any attribute quoting.
PLACEHOLDER = (
    "data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 width=%22120%22 "
    "height=%2224%22%3E%3Crect width=%22100%25%22 height=%22100%25%22 fill=%22%23eee%22 "
    "stroke=%22%23999%22/%3E%3Ctext x=%226%22 y=%2216%22 font-size=%2211%22 "
    "fill=%22%23555%22%3Eremote image%3C/text%3E%3C/svg%3E"
)
_ATTRIBUTES = {"*": ALLOWED_ATTRS, "a": frozenset({"href"}), "img": frozenset({"src"})}
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
# <style> elements anywhere (in <head> too); their text is sanitised on its own by
# an allowlist, so collecting it loosely lets nothing else through.
_STYLE = re.compile(r"<style\b[^<>]*>(.*?)(?:</style|$)", re.I | re.S)

# A cid: URL resolver: content-id -> data: URL (or None when unknown).
CidResolver = Callable[[str], str | None]


def clean_url(value: str) -> str:
    """*value* as the browser's URL parser reads it (WHATWG URL §4.4): leading and
    trailing C0 controls and spaces stripped, tabs and newlines removed. A scheme
    is then checked on exactly what the browser will see; anything else in front
    (another control character, a non-ASCII space) makes no allowed scheme."""
    return _TAB_OR_NEWLINE.sub("", value.strip(_C0_OR_SPACE))


class _AttrPolicy:
    """nh3's attribute filter: postel's URL, image and CSS rules. nh3 keeps what
    this returns as the attribute's value and drops the attribute on None."""

    def __init__(self, allow_remote: bool, cid: CidResolver | None) -> None:
        self.allow_remote = allow_remote
        self.cid = cid
        self.remote_blocked = 0

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr == "style":
            return sanitize_css_declarations(value) or None
        if tag == "a" and attr == "href":
            url = clean_url(value)
            return url if url.lower().startswith(LINK_SCHEMES) else None
        if tag == "img" and attr == "src":
            return self._image(value)
        if attr == "cite":  # a URL attribute (blockquote, q, del, ins): never followed
            url = clean_url(value)
            return url if url.lower().startswith(("http:", "https:")) else None
        return value

    def _image(self, value: str) -> str:
        url = clean_url(value)
        low = url.lower()
        if low.startswith(("http:", "https:", "//")):
            if self.allow_remote and not low.startswith("//"):
                return url
            self.remote_blocked += 1
            return PLACEHOLDER
        if low.startswith("cid:") and self.cid is not None:
            data = self.cid(value.strip()[4:])
            return data if data is not None and IMAGE_DATA.match(data) else PLACEHOLDER
        return url if IMAGE_DATA.match(url) else PLACEHOLDER


def _clean(source: str, policy: _AttrPolicy) -> str:
    return nh3.clean(
        source,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=policy,
        strip_comments=True,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        # nh3 checks URL attributes against these before the policy sees them;
        # the policy then decides (relative URLs reach it and are refused there).
        url_schemes={"http", "https", "mailto", "data", "cid"},
        url_relative="pass_through",
        filter_style_properties=CSS_PROPERTIES,
    )


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
    policy = _AttrPolicy(allow_remote, cid)
    body = _clean(flatten(source) if needs_flattening(source) else source, policy)
    # Each <style> on its own: one that is refused whole does not take the others along.
    sheets = (sanitize_stylesheet(m.group(1)) for m in _STYLE.finditer(source))
    css = "\n".join(sheet for sheet in sheets if sheet)
    return Sanitized(body, css, policy.remote_blocked)


def frame_document(s: Sanitized, *, allow_remote: bool) -> str:
    """A complete document for an iframe srcdoc, with its own restrictive CSP."""
    img = "data: https: http:" if allow_remote else "data:"
    csp = (
        f"default-src 'none'; img-src {img}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'"
    )
    style = f"<style>{s.css}</style>" if s.css else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">'
        '<meta name="referrer" content="no-referrer">'
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:8px;word-wrap:break-word}"
        "img{max-width:100%;height:auto}</style>"
        f"{style}</head><body>{s.body}</body></html>"
    )
