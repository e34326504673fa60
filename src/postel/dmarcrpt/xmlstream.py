"""Incremental, bounded XML parsing for DMARC reports.

The document is fed to expat in chunks as it is decompressed. After each
chunk the limits are checked (elements, depth, bytes without progress), so a
report bomb is refused a chunk past a limit instead of after building a tree
of millions of elements. Each child of the root element is handed to a
callback when it ends; the callback says whether it stays in the tree, so
records can be converted and dropped one by one.

Document type declarations are refused before the tree parser acts on them:
a guard parser with Python handlers reads the same bytes up to the root
element's start tag, the only place a DTD may appear (XML 1.0 §2.8); without
a DTD there are no entity declarations and no external entities.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

from postel.dmarcrpt.errors import ForbiddenXMLError, LimitError, XMLError
from postel.reportbudget import Budget

# Called with the root and each of its children when the child ends; True keeps it.
OnChild = Callable[[ET.Element, ET.Element], bool]


@dataclass(frozen=True)
class StreamLimits:
    max_depth: int  # nesting of elements, the root at depth 1
    max_stall_bytes: int  # bytes fed without a new element start or end


class _Stop(Exception):
    """The guard parser has seen the root element's start tag."""


def _forbid_dtd(*_args: object) -> NoReturn:
    raise ForbiddenXMLError("XML document type declarations (DTD) are not allowed")


def _forbid_entity(*_args: object) -> NoReturn:
    raise ForbiddenXMLError("XML entity declarations are not allowed")


def _forbid_external(*_args: object) -> NoReturn:
    raise ForbiddenXMLError("XML external references are not allowed")


def _stop(*_args: object) -> NoReturn:
    raise _Stop


class _PrologGuard:
    """Reads the prolog with handlers that refuse DTDs, entities and external references."""

    def __init__(self) -> None:
        p = expat.ParserCreate()
        p.StartDoctypeDeclHandler = _forbid_dtd
        p.EntityDeclHandler = _forbid_entity
        p.UnparsedEntityDeclHandler = _forbid_entity
        p.ExternalEntityRefHandler = _forbid_external
        p.StartElementHandler = _stop
        self._parser: expat.XMLParserType | None = p

    def feed(self, chunk: bytes) -> None:
        if self._parser is None:
            return
        try:
            self._parser.Parse(chunk, False)
        except (_Stop, expat.ExpatError, ValueError, LookupError):
            # Past the prolog, or malformed: the tree parser reports the latter.
            self._parser = None


def parse_stream(
    chunks: Iterable[bytes],
    limits: StreamLimits,
    budget: Budget,
    on_child: OnChild,
) -> ET.Element:
    """Parse the document in *chunks*; the root element with the children kept.

    Raises ForbiddenXMLError, XMLError (not well-formed, empty) or LimitError.
    """
    guard = _PrologGuard()
    pull: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    depth = 0
    stall = 0
    content = False
    try:
        for chunk in chunks:
            if not content and chunk.strip():
                content = True
            guard.feed(chunk)
            pull.feed(chunk)
            root, depth, progressed = _consume(pull, root, depth, limits, budget, on_child)
            stall = 0 if progressed else stall + len(chunk)
            if stall > limits.max_stall_bytes:
                raise LimitError(
                    f"XML has more than {limits.max_stall_bytes} bytes in one tag, text or comment"
                )
        if not content:
            raise XMLError("empty document, no XML report")
        guard.feed(b"")
        pull.close()
        root, depth, _ = _consume(pull, root, depth, limits, budget, on_child)
    except ET.ParseError as e:
        raise XMLError(f"XML not well-formed: {e}") from None
    except (ValueError, LookupError, TypeError) as e:
        raise XMLError(f"cannot parse XML: {e}") from None
    if root is None:
        raise XMLError("XML has no root element")
    return root


def _consume(
    pull: ET.XMLPullParser[ET.Element],
    root: ET.Element | None,
    depth: int,
    limits: StreamLimits,
    budget: Budget,
    on_child: OnChild,
) -> tuple[ET.Element | None, int, bool]:
    """Act on the events of the last feed; the new root, depth and whether any came."""
    starts = 0
    progressed = False
    dropped: set[int] = set()
    for event in pull.read_events():
        progressed = True
        kind, el = event[0], event[-1]
        if not isinstance(el, ET.Element):
            continue  # only start and end events are asked for, which carry elements
        if kind == "start":
            starts += 1
            depth += 1
            if depth > limits.max_depth:
                raise LimitError(f"XML elements nested more than {limits.max_depth} deep")
            if root is None:
                root = el
        else:
            depth -= 1
            if depth == 1 and root is not None and not on_child(root, el):
                dropped.add(id(el))
    if dropped and root is not None:
        # One pass per chunk: a chunk may end thousands of the root's children.
        root[:] = [c for c in root if id(c) not in dropped]
    if starts:
        budget.charge_elements(starts, "XML elements")
    return root, depth, progressed
