"""What a browser would make of the sanitiser's output, and what must not be in it.

The output is parsed with html5lib (the WHATWG parsing algorithm, foreign
content and all), as the body of the message frame, and the tree is checked
independently of the sanitiser's own lists.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import html5lib

from postel.web.webmail.sanitize import PLACEHOLDER, Sanitized, frame_document

HTML_NS = "{http://www.w3.org/1999/xhtml}"
# Elements that run script, load or embed content, submit, or change how the
# rest is parsed; none may appear in the parsed output.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DANGEROUS = _words(
    """script style iframe frame frameset object embed applet param svg math meta base link
    form input button textarea select option template video audio source track picture
    portal noscript noembed noframes xmp plaintext listing title head html body bgsound
    marquee isindex keygen image area map canvas dialog"""
)
# Attributes that load, navigate or submit (besides href/src/cite checked below).
LOADING_ATTRS = _words(
    """srcset background poster dynsrc lowsrc formaction action ping data srcdoc usemap
    longdesc codebase classid archive manifest icon profile xmlns"""
)
_URL_JUNK = re.compile(
    "[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200b\u2028\u2029\u205f\u3000\ufeff]"
)
_RASTER = re.compile(r"^data:image/(png|gif|jpeg|jpg|webp);base64,[a-z0-9+/=]*$")
_FUNCTION = re.compile(r"([a-z0-9_-]+)\(")
_CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_CSS_BAD = ("\\", "url(", "expression", "@import", "javascript", "binding", "behavior")


def _url(value: str) -> str:
    return _URL_JUNK.sub("", value).lower()


def css_problems(css: str, where: str) -> list[str]:
    low = css.lower()
    out = [f"{where}: {bad!r} in CSS {css!r}" for bad in _CSS_BAD if bad in low]
    out += [
        f"{where}: function {name}() in CSS {css!r}"
        for name in _FUNCTION.findall(low)
        if name not in _CSS_FUNCTIONS
    ]
    if "<" in css:
        out.append(f"{where}: '<' in CSS {css!r}")
    return out


def tree_problems(root: ET.Element, *, allow_remote: bool) -> list[str]:
    out: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            out.append(f"comment or processing instruction {el.text!r}")
            continue
        if el is root:
            continue
        if not el.tag.startswith(HTML_NS):
            out.append(f"foreign element {el.tag}")
            continue
        tag = el.tag[len(HTML_NS) :]
        if tag in DANGEROUS:
            out.append(f"element <{tag}>")
        for name, value in el.attrib.items():
            where = f"<{tag} {name}>"
            low = name.lower()
            if low.startswith("on") or low in LOADING_ATTRS or ":" in low or "{" in low:
                out.append(f"attribute {where}={value!r}")
            elif low == "href":
                if not _url(value).startswith(("http:", "https:", "mailto:")):
                    out.append(f"link {where}={value!r}")
            elif low == "src":
                url = _url(value)
                remote_ok = allow_remote and url.startswith(("http:", "https:"))
                if value != PLACEHOLDER and not _RASTER.match(url) and not remote_ok:
                    out.append(f"image source {where}={value!r}")
            elif low == "cite":
                if not _url(value).startswith(("http:", "https:")):
                    out.append(f"cite {where}={value!r}")
            elif low == "style":
                out += css_problems(value, where)
    return out


def problems(s: Sanitized, *, allow_remote: bool = False) -> list[str]:
    """Everything unsafe in *s* as a browser would see it in the message frame."""
    body = html5lib.parseFragment(s.body, container="div", treebuilder="etree")
    found = tree_problems(body, allow_remote=allow_remote)
    found += css_problems(s.css, "<style>")
    # The whole frame document: its head holds only our meta and style elements.
    doc = html5lib.parse(frame_document(s, allow_remote=allow_remote), treebuilder="etree")
    head = doc.find(f"{HTML_NS}head")
    assert head is not None
    kids = [child.tag[len(HTML_NS) :] for child in head]
    if kids.count("meta") != 3 or set(kids) - {"meta", "style"}:
        found.append(f"frame head holds {kids}")
    body_el = doc.find(f"{HTML_NS}body")
    assert body_el is not None
    found += [f"frame: {p}" for p in tree_problems(body_el, allow_remote=allow_remote)]
    return found


Tree = tuple[str, list[tuple[str, str]], str, list["Tree"], str]


def _walk(el: ET.Element) -> Tree:
    tag = el.tag if isinstance(el.tag, str) else "#comment"
    kids = [_walk(child) for child in el]
    return (tag, sorted(el.attrib.items()), el.text or "", kids, el.tail or "")


def canonical(fragment: str) -> Tree:
    """The tree a browser builds from *fragment*, attributes in name order."""
    return _walk(html5lib.parseFragment(fragment, container="div", treebuilder="etree"))
