"""Outlook's Autodiscover (the "POX" protocol, [MS-OXDSCLI]): a POST of a small
XML request naming an address to /autodiscover/autodiscover.xml, answered with
the IMAP and SMTP settings ("settings" action).

The request is parsed by defusedxml (no DTD, no entities) and bounded in size.
Only the Outlook response schema is answered: ActiveSync clients (the mobilesync
schema) get None here, and the web layer answers 404 so they try other ways.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as DET

from postel.clientsetup.errors import BadSetupRequest, SetupRequestTooLarge
from postel.clientsetup.services import ClientServices, Endpoint

MEDIA_TYPE = "application/xml"
MAX_REQUEST = 16 * 1024  # a real request is about 400 bytes
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


@dataclass(frozen=True)
class AutodiscoverRequest:
    address: str  # as sent; the caller validates it
    schema: str  # AcceptableResponseSchema, "" when absent


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    for child in parent:
        if _local(child.tag) == name:
            return child
    return None


def parse_request(body: bytes) -> AutodiscoverRequest:
    """The address and response schema of a request body; BadSetupRequest otherwise
    (SetupRequestTooLarge over MAX_REQUEST bytes)."""
    if len(body) > MAX_REQUEST:
        raise SetupRequestTooLarge(
            f"body: request body larger than {MAX_REQUEST} bytes", limit="body", value=MAX_REQUEST
        )
    try:
        root = DET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, defusedxml.DefusedXmlException) as exc:
        raise BadSetupRequest(f"not a usable XML document: {exc}", where="body") from None
    request = _child(root, "Request") if _local(root.tag) == "Autodiscover" else None
    if request is None:
        raise BadSetupRequest("no Autodiscover/Request element", where="body")
    address = _child(request, "EMailAddress")
    if address is None or not (address.text or "").strip():
        raise BadSetupRequest("no EMailAddress", where="Autodiscover/Request")
    schema = _child(request, "AcceptableResponseSchema")
    return AutodiscoverRequest(
        (address.text or "").strip(), (schema.text or "").strip() if schema is not None else ""
    )


def accepts_outlook(schema: str) -> bool:
    """Whether the client accepts the Outlook response (absent: assumed)."""
    return schema in ("", OUTLOOK_NS)


def _protocol(account: ET.Element, kind: str, host: str, ep: Endpoint, login: str | None) -> None:
    proto = ET.SubElement(account, "Protocol")
    ET.SubElement(proto, "Type").text = kind
    ET.SubElement(proto, "Server").text = host
    ET.SubElement(proto, "Port").text = str(ep.port)
    if login is not None:
        ET.SubElement(proto, "LoginName").text = login
    ET.SubElement(proto, "DomainRequired").text = "off"
    ET.SubElement(proto, "SPA").text = "off"
    ET.SubElement(proto, "SSL").text = "on"
    # Encryption overrides SSL where understood: SSL is implicit TLS, TLS is STARTTLS.
    ET.SubElement(proto, "Encryption").text = "SSL" if ep.security == "tls" else "TLS"
    ET.SubElement(proto, "AuthRequired").text = "on"


def autodiscover_xml(services: ClientServices, login: str | None) -> bytes:
    """The settings response: the preferred IMAP and SMTP endpoints with *login* (the
    address asked about) as login name, when known."""
    # Default namespaces written as plain xmlns attributes, as Outlook expects them
    # (no prefixes); parsed back, every element is in its namespace.
    root = ET.Element("Autodiscover", {"xmlns": RESPONSE_NS})
    response = ET.SubElement(root, "Response", {"xmlns": OUTLOOK_NS})
    account = ET.SubElement(response, "Account")
    ET.SubElement(account, "AccountType").text = "email"
    ET.SubElement(account, "Action").text = "settings"
    if services.imap:
        _protocol(account, "IMAP", services.hostname, services.imap[0], login)
    if services.submission:
        _protocol(account, "SMTP", services.hostname, services.submission[0], login)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode()
    )
