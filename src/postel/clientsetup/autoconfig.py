"""Thunderbird's autoconfig file (clientConfig version 1.1), as fetched from
https://autoconfig.<domain>/mail/config-v1.1.xml and
https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml.

The user name is the placeholder %EMAILADDRESS%: postel's IMAP and submission
take the account's address as login name (postel.sasl.login), and the answer
does not depend on whether an address exists (no account enumeration).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from postel.clientsetup.services import ClientServices, Endpoint

MEDIA_TYPE = "application/xml"
USERNAME = "%EMAILADDRESS%"
# Thunderbird's socketType values.
_SOCKET = {"tls": "SSL", "starttls": "STARTTLS"}


def _server(parent: ET.Element, tag: str, kind: str, host: str, ep: Endpoint) -> None:
    server = ET.SubElement(parent, tag, {"type": kind})
    ET.SubElement(server, "hostname").text = host
    ET.SubElement(server, "port").text = str(ep.port)
    ET.SubElement(server, "socketType").text = _SOCKET[ep.security]
    # PLAIN inside TLS (Thunderbird's name); SCRAM-SHA-256 is offered too, but the
    # format has no value for it.
    ET.SubElement(server, "authentication").text = "password-cleartext"
    ET.SubElement(server, "username").text = USERNAME


def autoconfig_xml(services: ClientServices, domain: str) -> bytes:
    """The clientConfig document for *domain*, servers in order of preference."""
    root = ET.Element("clientConfig", {"version": "1.1"})
    provider = ET.SubElement(root, "emailProvider", {"id": domain})
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"{domain} mail ({services.hostname})"
    ET.SubElement(provider, "displayShortName").text = domain
    for ep in services.imap:
        _server(provider, "incomingServer", "imap", services.hostname, ep)
    for ep in services.submission:
        _server(provider, "outgoingServer", "smtp", services.hostname, ep)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode()
    )
