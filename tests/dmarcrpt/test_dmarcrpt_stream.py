"""The incremental parse gives what a parse of the whole tree gives.

Records are converted while the document streams in and dropped from the tree;
the report, its warnings (in order) and the first error must be exactly those
of building the whole tree first and converting it afterwards.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as DET
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dmarcrpt_parse import RFC9990

from postel.dmarcrpt import DMARCReportError, parse_report_xml, report_from_element

Outcome = tuple[str, object, object]


def _outcome_stream(data: bytes, strict: bool) -> Outcome:
    try:
        r = parse_report_xml(data, strict=strict)
    except DMARCReportError as e:
        return ("error", type(e), str(e))
    return ("ok", r.report, r.warnings)


def _outcome_tree(data: bytes, strict: bool) -> Outcome:
    root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        r = report_from_element(root, strict=strict)
    except DMARCReportError as e:
        return ("error", type(e), str(e))
    return ("ok", r.report, r.warnings)


def _elements(root: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
    """(parent, child) for every element below the root."""
    return [(p, c) for p in root.iter() for c in p]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """The RFC 9990 example with elements removed, repeated, emptied or added."""
    root = ET.fromstring(RFC9990.encode())
    for _ in range(draw(st.integers(0, 6))):
        pairs = _elements(root)
        if not pairs:
            break
        op = draw(st.sampled_from(["remove", "repeat", "empty", "extension", "junk"]))
        parent, child = draw(st.sampled_from(pairs))
        i = list(parent).index(child)
        if op == "remove":
            parent.remove(child)
        elif op == "repeat":
            parent.insert(i + 1, copy.deepcopy(child))
        elif op == "empty":
            child.text = None
            for c in list(child):
                child.remove(c)
        elif op == "extension":
            target = draw(st.sampled_from([root, parent, child]))
            ext = ET.Element("{urn:example:ext}note")
            ext.text = "x"
            target.insert(draw(st.integers(0, len(target))), ext)
        else:
            child.text = draw(st.sampled_from(["", "x", "-1", "1.0", "999.1.1.1", "PASS"]))
    return ET.tostring(root)


@settings(max_examples=300, deadline=None)
@given(mutated(), st.booleans())
def test_streamed_parse_equals_whole_tree_parse(data: bytes, strict: bool) -> None:
    assert _outcome_stream(data, strict) == _outcome_tree(data, strict)


def test_many_records_equal_whole_tree_parse() -> None:
    """Enough records that the parser drops them in several batches."""
    root = ET.fromstring(RFC9990.encode())
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    record = root.find(f"{ns}record")
    assert record is not None
    for i in range(3000):
        r = copy.deepcopy(record)
        ip = r.find(f"{ns}row/{ns}source_ip")
        assert ip is not None
        ip.text = f"10.0.{i // 256}.{i % 256}"
        root.append(r)
        if i % 500 == 0:
            root.append(ET.Element("{urn:example:ext}note"))
    data = ET.tostring(root)
    for strict in (False, True):
        stream = _outcome_stream(data, strict)
        assert stream[0] == "ok"
        assert stream == _outcome_tree(data, strict)
