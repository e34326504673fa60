"""Bounding the parse cost of large HTML mail before it is sanitised.

html5ever (the WHATWG tree builder inside nh3) does work proportional to the
depth of the open-element stack and to the length of the list of active
formatting elements for every tag (scope checks, HTML Living Standard
§13.2.4.2; the "Noah's Ark" clause, §13.2.4.3), so nested or unclosed markup
costs time quadratic in its size: measured, 100,000 nested ``<div>`` took 23 s
and 20,000 unclosed ``<b title=N>`` 20 s. A mail with many tags is therefore
first re-emitted here in linear time, with at most :data:`MAX_DEPTH` open
elements, at most :data:`MAX_FORMATTING` of them formatting elements, and
every element closed explicitly in order, so that the tree builder meets a
bounded stack and a short list of formatting elements.

This is a cost bound, not a sanitiser: nh3 still parses and filters what comes
out of here. Text and attribute values are escaped on the way out, so this
parse (Python's html.parser) can only change the structure nh3 sees, never
turn text into markup.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

MAX_DEPTH = 256  # open elements; browsers cap their trees similarly (Blink: 512)
MAX_FORMATTING = 32  # open formatting elements (§13.2.4.3), each scanned per such tag
# Above this many "<" a mail is flattened first; below it even the worst markup
# measured costs nh3 well under a second.
DIRECT_TAGS = 3000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_VOID = _words("area base br col embed hr img image input keygen link meta param source track wbr")
_FORMATTING = _words("a b big code em font i nobr s small strike strong tt u")


class _Flattener(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.formatting = 0  # how many of self.stack are formatting elements

    def parse_html_declaration(self, i: int) -> int:
        # Everything after "<!" but a comment is a bogus comment up to ">" in HTML
        # content (§13.2.5.42), <![CDATA[ and <!doctype included; html.parser would
        # raise AssertionError on some marked sections instead.
        if self.rawdata.startswith("<!--", i):
            return self.parse_comment(i)
        return self.parse_bogus_comment(i)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID and len(self.stack) >= MAX_DEPTH:
            return
        if tag in _FORMATTING:
            if self.formatting >= MAX_FORMATTING:
                return
            self.formatting += 1
        parts = [tag]
        for name, value in attrs:
            if value is None:
                parts.append(name)
            else:
                parts.append(f'{name}="{html.escape(value, quote=True)}"')
        self.out.append("<" + " ".join(parts) + ">")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.stack:
            return
        while self.stack:
            name = self.stack.pop()
            self.formatting -= name in _FORMATTING
            self.out.append(f"</{name}>")
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))


def needs_flattening(source: str) -> bool:
    """True if *source* has more tag openings than nh3 is given directly."""
    return source.count("<") > DIRECT_TAGS


def flatten(source: str) -> str:
    """*source* re-emitted with bounded nesting, every element closed in order."""
    p = _Flattener()
    try:
        p.feed(source)
        p.close()
    except AssertionError:  # html.parser's "should not happen": keep what was read
        pass
    while p.stack:
        p.out.append(f"</{p.stack.pop()}>")
    return "".join(p.out)
