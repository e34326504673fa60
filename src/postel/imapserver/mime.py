"""Serving IMAP sections from a message's MIME structure: pure.

The structure itself (postel.store.mimestructure) is parsed at delivery and
kept in the index; BODY[1.2], BODY[HEADER.FIELDS (...)], BODY[TEXT] are served
from its byte ranges (RFC 9051 §6.4.5)."""

from __future__ import annotations

import functools

from postel.imapserver.errors import IMAPServerError
from postel.imapserver.fetchatt import Section
from postel.store.mimestructure import (
    MAX_DEPTH,
    MAX_PARTS,
    Buffer,
    Part,
    count_lines,
    header_end,
    header_fields,
    parse_header,
    parse_structure,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_PARTS",
    "Buffer",
    "NoSuchPart",
    "Part",
    "count_lines",
    "filter_header",
    "find_part",
    "header_end",
    "parse_header",
    "parse_structure",
    "section_range",
]


class NoSuchPart(IMAPServerError):
    """A section names a part the message does not have: an empty answer (§6.4.5)."""


def find_part(root: Part, numbers: tuple[int, ...]) -> Part:
    """The part named by *numbers* (RFC 9051 §6.4.5: a non-multipart message has
    part 1; parts of a message/rfc822 part are those of the message inside)."""
    node = root
    for n in numbers:
        if node.message is not None:
            node = node.message
        if node.is_multipart:
            if not 1 <= n <= len(node.children):
                raise NoSuchPart(str(n))
            node = node.children[n - 1]
        elif n != 1:
            raise NoSuchPart(str(n))
    return node


def section_range(root: Part, section: Section) -> tuple[int, int]:
    """The byte range of *section* (before HEADER.FIELDS filtering)."""
    if not section.part:
        node = root
    else:
        node = find_part(root, section.part)
    text = section.text
    if text == "MIME":
        return node.start, node.body_start
    if not text:
        if not section.part:
            return node.start, node.end
        return node.body_start, node.end
    if section.part:  # HEADER/TEXT of a part: of the message inside it
        if node.message is None:
            raise NoSuchPart(".".join(map(str, section.part)))
        node = node.message
    if text == "TEXT":
        return node.body_start, node.end
    return node.start, node.body_start


@functools.lru_cache(maxsize=64)
def _lowered(fields: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f.lower() for f in fields)


def filter_header(header: bytes, fields: tuple[str, ...], keep: bool) -> bytes:
    """Header lines whose names are (*keep*) or are not in *fields*, then the blank line."""
    wanted = _lowered(fields)
    out = [lines for name, lines in header_fields(header) if (name in wanted) == keep]
    out.append(b"\r\n")
    return b"".join(out)
