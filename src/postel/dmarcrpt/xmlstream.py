"""Incremental, bounded XML parsing for DMARC reports.

The document is parsed by defusedxml's iterparse (DTDs, entity declarations
and external references refused) as it is decompressed, chunk by chunk. The
limits are checked as it goes: depth at every start tag, the element count
and the bytes fed without a new tag before each further chunk is read. A
report bomb is so refused a chunk past a limit, instead of after a tree of
millions of elements has been built. Each child of the root element is handed
to a callback when it ends; the callback says whether it stays in the tree,
so records can be converted and dropped one by one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as DET

from postel.dmarcrpt.errors import DMARCLimitError, ForbiddenXMLError, XMLError
from postel.reportbudget import Budget

# Called with the root and each of its children when the child ends; True keeps it.
OnChild = Callable[[ET.Element, ET.Element], bool]


@dataclass(frozen=True)
class StreamLimits:
    max_depth: int  # nesting of elements, the root at depth 1
    max_stall_bytes: int  # bytes fed without a new element start or end


class _Feed:
    """The chunks as a file for iterparse; checks the limits before each further chunk."""

    def __init__(self, chunks: Iterable[bytes], limits: StreamLimits, budget: Budget) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._limits = limits
        self._budget = budget
        self.starts = 0  # start tags not yet charged to the budget
        self.stalled = 0  # bytes fed since the last event
        self.content = False  # anything but whitespace seen

    def charge(self) -> None:
        self._budget.charge_elements(self.starts, "XML elements")
        self.starts = 0

    def read(self, size: int = -1) -> bytes:
        """The next chunk, whatever *size* asks: iterparse feeds what it gets."""
        self.charge()
        if self.stalled > self._limits.max_stall_bytes:
            raise DMARCLimitError(
                f"XML has more than {self._limits.max_stall_bytes} bytes in one tag, "
                "text or comment"
            )
        for chunk in self._chunks:
            if chunk:
                self.stalled += len(chunk)
                if not self.content and chunk.strip():
                    self.content = True
                return chunk
        return b""


def parse_stream(
    chunks: Iterable[bytes],
    limits: StreamLimits,
    budget: Budget,
    on_child: OnChild,
) -> ET.Element:
    """Parse the document in *chunks*; the root element with the children kept.

    Raises ForbiddenXMLError, XMLError (not well-formed, empty) or DMARCLimitError.
    """
    feed = _Feed(chunks, limits, budget)
    events = DET.iterparse(
        feed,
        events=("start", "end"),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        root = _consume(events, feed, limits, on_child)
    except defusedxml.DTDForbidden:
        raise ForbiddenXMLError("XML document type declarations (DTD) are not allowed") from None
    except defusedxml.EntitiesForbidden:
        raise ForbiddenXMLError("XML entity declarations are not allowed") from None
    except defusedxml.ExternalReferenceForbidden:
        raise ForbiddenXMLError("XML external references are not allowed") from None
    except ET.ParseError as e:
        if not feed.content:
            raise XMLError("empty document, no XML report") from None
        raise XMLError(f"XML not well-formed: {e}") from None
    except (ValueError, LookupError, TypeError) as e:
        raise XMLError(f"cannot parse XML: {e}") from None
    feed.charge()
    if root is None:
        raise XMLError("XML has no root element")
    return root


def _consume(
    events: Iterator[tuple[str, ET.Element]],
    feed: _Feed,
    limits: StreamLimits,
    on_child: OnChild,
) -> ET.Element | None:
    root: ET.Element | None = None
    depth = 0
    max_depth = limits.max_depth
    dropped: set[int] = set()
    for kind, el in events:
        feed.stalled = 0
        if kind == "start":
            feed.starts += 1
            depth += 1
            if depth > max_depth:
                raise DMARCLimitError(f"XML elements nested more than {max_depth} deep")
            if root is None:
                root = el
            elif depth == 2 and len(dropped) * 2 >= len(root):
                # Children are dropped in batches: removing each from the list
                # at once would cost its length every time.
                root[:] = [c for c in root if id(c) not in dropped]
                dropped.clear()
        else:
            depth -= 1
            if depth == 1 and root is not None and not on_child(root, el):
                dropped.add(id(el))
    if root is not None and dropped:
        root[:] = [c for c in root if id(c) not in dropped]
    return root
