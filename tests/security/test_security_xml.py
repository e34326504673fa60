"""Standard 4, XML is parsed without entity expansion: every XML parse in src goes
through defusedxml with DTDs, entities and external references forbidden; reports
carrying them are refused in every wrapping (plain, gzip, zip, e-mail), strict or
lenient."""

from __future__ import annotations

import ast
import gzip
import io
import zipfile
from pathlib import Path

import pytest

from postel.dmarcrpt import ForbiddenXMLError, parse_report

SRC = Path(__file__).resolve().parents[2] / "src" / "postel"

# Modules that can parse XML (and expand entities) when used directly.
XML_MODULES = ("xml", "lxml", "defusedxml", "pyexpat", "expat")
PARSE_CALLS = {
    "fromstring",
    "parse",
    "XML",
    "XMLParser",
    "iterparse",
    "XMLPullParser",
    "parseString",
    "make_parser",
    "ParserCreate",
    "fromstringlist",
    "XMLID",
    "TreeBuilder",
}


def _xml_imports(tree: ast.Module) -> dict[str, str]:
    """Local alias -> full module or object name, for XML-related imports."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in XML_MODULES:
                    names[a.asname or a.name.split(".")[0]] = a.name
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in XML_MODULES
        ):
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def problems(source: str, rel: str) -> tuple[list[str], list[str]]:
    """(problems, parse sites) of one module: XML parse calls not made through
    defusedxml with DTDs, entities and external references all forbidden."""
    tree = ast.parse(source, rel)
    aliases = _xml_imports(tree)
    bad: list[str] = []
    sites: list[str] = []
    for full in aliases.values():
        unsafe_module = full.startswith(("xml.dom", "xml.sax", "xml.parsers"))
        if full.split(".")[0] not in ("xml", "defusedxml") or unsafe_module:
            bad.append(f"{rel}: imports {full}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        first, last = name.split(".")[0], name.split(".")[-1]
        if first not in aliases:
            continue
        full = aliases[first] + name[len(first) :]
        if full.split(".")[-1] not in PARSE_CALLS and last not in PARSE_CALLS:
            continue
        sites.append(f"{rel}:{node.lineno}")
        if not full.startswith("defusedxml"):
            bad.append(f"{rel}:{node.lineno}: {name} is {full}, not defusedxml")
            continue
        kwargs = {k.arg: k.value for k in node.keywords}
        for flag in ("forbid_dtd", "forbid_entities", "forbid_external"):
            value = kwargs.get(flag)
            if not (isinstance(value, ast.Constant) and value.value is True):
                bad.append(f"{rel}:{node.lineno}: {name} without {flag}=True")
    return bad, sites


def test_the_checker_finds_unsafe_parses() -> None:
    unsafe = {
        "import xml.etree.ElementTree as ET\nET.fromstring(b'')": 1,
        "from xml.etree.ElementTree import fromstring\nfromstring(b'')": 1,
        "from xml.dom import minidom\nminidom.parseString(b'')": 2,
        "import lxml.etree\nlxml.etree.fromstring(b'')": 2,
        "import defusedxml.ElementTree as D\nD.fromstring(b'')": 3,
        "import defusedxml.ElementTree as D\nD.fromstring(b'', forbid_dtd=True,"
        " forbid_entities=True, forbid_external=True)": 0,
        "import xml.etree.ElementTree as ET\nET.Element('a')": 0,
    }
    for source, count in unsafe.items():
        assert len(problems(source, "sample.py")[0]) == count, source


def test_every_xml_parse_in_src_goes_through_defusedxml() -> None:
    all_bad: list[str] = []
    all_sites: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        bad, sites = problems(path.read_text(), str(path.relative_to(SRC)))
        all_bad += bad
        all_sites += sites
    assert all_bad == []
    # The XML consumers: the DMARC report parser and Autodiscover requests (from any
    # client, unauthenticated); if that changes, this test must be looked at again
    # rather than pass vacuously.
    consumers = ("dmarcrpt/", "clientsetup/autodiscover.py:")
    assert all_sites and all(s.startswith(consumers) for s in all_sites), all_sites
    assert any(s.startswith("clientsetup/") for s in all_sites), all_sites


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]>
<feedback><report_metadata><org_name>&g;</org_name></report_metadata></feedback>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>
"""

PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>
<feedback/>
"""

DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/feedback.dtd">
<feedback/>
"""


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.xml", data)
    return buf.getvalue()


def _mail(data: bytes) -> bytes:
    import base64

    body = base64.encodebytes(gzip.compress(data))
    return (
        b"From: reports@reporter.example\r\nTo: dmarc@example.org\r\n"
        b"Subject: Report Domain: example.org\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/gzip; name="r.xml.gz"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )


@pytest.mark.parametrize(
    "doc", [LAUGHS, EXTERNAL, PARAMETER, DTD_ONLY], ids=["laughs", "external", "parameter", "dtd"]
)
@pytest.mark.parametrize(
    "wrap", [lambda d: d, gzip.compress, _zip, _mail], ids=["xml", "gzip", "zip", "mail"]
)
@pytest.mark.parametrize("strict", [False, True])
def test_entity_documents_are_refused(doc: bytes, wrap: object, strict: bool) -> None:
    assert callable(wrap)
    with pytest.raises(ForbiddenXMLError):
        parse_report(wrap(doc), strict=strict)
