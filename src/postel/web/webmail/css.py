"""An allowlist for the CSS of received HTML mail: properties and value grammar.

Only listed properties pass, and a value passes only when it is made wholly of
harmless tokens: keywords, numbers with known units, hex colours, plain quoted
font names and ``rgb()/rgba()/hsl()/hsla()`` with numbers inside, separated
by spaces, commas or slashes, optionally ending in ``!important``. Everything
else (``url()``, ``image-set()``, ``expression()``, ``var()``, ``attr()``,
escapes, ``@import``, markup) is not in the grammar, so it cannot pass in any
spelling: there is nothing to decode because a backslash is never accepted.

What is returned is rebuilt from the accepted pieces, so what the browser
parses is what was checked here. Comments are removed first (CSS Syntax
Level 3 §4.3.2: a comment is not a token); ``u/**/rl(`` becomes ``url(`` and
is then refused like any other function.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Layout and typography that HTML mail uses. Not listed, on purpose: position,
# z-index, top/left, content, cursor, filter, mask, clip-path, transform,
# animation, transition, behavior, -moz-binding, background-image,
# list-style-image, border-image, and anything vendor-prefixed.
PROPERTIES = _words(
    """color background background-color opacity visibility
    font font-family font-size font-style font-variant font-weight line-height
    letter-spacing word-spacing text-align text-decoration text-decoration-color
    text-decoration-line text-decoration-style text-indent text-transform text-shadow
    white-space word-break word-wrap overflow-wrap vertical-align direction
    margin margin-top margin-right margin-bottom margin-left
    padding padding-top padding-right padding-bottom padding-left
    border border-top border-right border-bottom border-left
    border-width border-style border-color border-radius
    border-top-width border-right-width border-bottom-width border-left-width
    border-top-style border-right-style border-bottom-style border-left-style
    border-top-color border-right-color border-bottom-color border-left-color
    border-top-left-radius border-top-right-radius border-bottom-left-radius
    border-bottom-right-radius border-collapse border-spacing
    width height min-width max-width min-height max-height box-sizing
    display float clear overflow overflow-x overflow-y
    list-style list-style-type list-style-position
    table-layout caption-side empty-cells outline outline-color outline-style outline-width"""
)

MAX_VALUE = 500  # characters in one declaration's value
MAX_SELECTOR = 500

_UNITS = "px|em|rem|ex|ch|pt|pc|cm|mm|in|q|vw|vh|vmin|vmax|deg|%"
_WS = "[ \t\r\n\f]"  # CSS whitespace (CSS Syntax Level 3 §4.2), not Python's \s
_TOKEN = re.compile(
    _WS
    + r"""*(?:
        \#[0-9a-f]{3,8}(?![\w-])
      | [+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:"""
    + _UNITS
    + r""")?(?![\w-])
      | -?[a-z_][a-z0-9_-]*(?![\w(-])
      | "[\w .,-]*" | '[\w .,-]*'
      | (?:rgba?|hsla?)\([\w.%,/+\ \t\r\n\f-]*\)
      | [,/]
    )""",
    re.I | re.X,
)
_IMPORTANT = re.compile(_WS + "*!" + _WS + "*important" + _WS + "*$", re.I)
_PROPERTY = re.compile(r"^[a-z-]+$", re.I)
_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_BRACE = re.compile(r"[{}]")
# Selectors: plain characters and closed quoted strings, never { } ; @ < or \\.
_SELECTOR = re.compile(r"""^(?:[\w\s.#,>+~*:()\[\]=|^$-]|"[^"\\\n]*"|'[^'\\\n]*')+$""")
# Media queries: words and "(feature: value)" groups, never a function such as url(.
_MEDIA = re.compile(r"^(?:[\w\s,:.-]|(?<![\w-])\([\w\s:.-]*\))+$")


def value_ok(value: str) -> bool:
    """True if *value* is a sequence of allowed tokens (see the module docstring)."""
    if len(value) > MAX_VALUE:
        return False
    value = _IMPORTANT.sub("", value)
    pos, end = 0, len(value.rstrip(" \t\r\n\f"))
    if pos == end:
        return False
    while pos < end:
        m = _TOKEN.match(value, pos)
        if m is None or m.end() == pos:
            return False
        pos = m.end()
    return True


def sanitize_css_declarations(style: str) -> str:
    """A declaration list (a style attribute, a rule's block) keeping only allowed
    properties with allowed values, joined by ``"; "``."""
    # Mail repeats the same few style attributes many times: short ones are cached.
    return _cached(style) if len(style) <= CACHED_LENGTH else _declarations(style)


CACHED_LENGTH = 400


@lru_cache(maxsize=4096)
def _cached(style: str) -> str:
    return _declarations(style)


def _declarations(style: str) -> str:
    style = _COMMENT.sub("", style)
    out = []
    for decl in style.split(";"):
        name, colon, value = decl.partition(":")
        name = name.strip().lower()
        if colon and name in PROPERTIES and _PROPERTY.match(name) and value_ok(value):
            out.append(f"{name}:{value.rstrip()}")
    return "; ".join(out)


def _block_end(css: str, start: int) -> int:
    """The index after the ``}`` that closes the block opened just before *start*,
    or -1 when it is not closed."""
    depth = 1
    for m in _BRACE.finditer(css, start):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return m.end()
    return -1


def _rules(css: str, nested: bool) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(css):
        brace = css.find("{", pos)
        if brace < 0:
            break
        semi = css.find(";", pos, brace)
        if semi >= 0:  # a statement at-rule (@import ...;) or junk: skipped
            pos = semi + 1
            continue
        end = _block_end(css, brace + 1)
        if end < 0:
            break
        prelude, body = css[pos:brace].strip(), css[brace + 1 : end - 1]
        pos = end
        if prelude.lower().startswith("@media") and not nested:
            query = prelude[6:].strip()
            inner = _rules(body, nested=True) if _MEDIA.match(query) else []
            if inner:
                out.append(f"@media {query} {{\n" + "\n".join(inner) + "\n}")
        elif (
            prelude
            and "{" not in body
            and len(prelude) <= MAX_SELECTOR
            and _SELECTOR.match(prelude)
        ):
            decls = sanitize_css_declarations(body)
            if decls:
                out.append(f"{prelude} {{ {decls} }}")
    return out


def sanitize_stylesheet(css: str) -> str:
    """A ``<style>`` sheet rebuilt from its allowed rules: plain selectors with
    sanitised declarations, and ``@media`` around such rules. Every other
    at-rule (@import, @font-face, @keyframes, ...) is dropped with its block.
    The result never contains ``<`` (it goes inside a ``<style>`` element)."""
    css = _COMMENT.sub("", css).replace("<!--", " ").replace("-->", " ")
    if "\\" in css or "<" in css:
        return ""
    return "\n".join(_rules(css, nested=False))
