"""Thunderbird's autoconfig document (postel.clientsetup.autoconfig), parsed back."""

from __future__ import annotations

import defusedxml.ElementTree as DET

from postel.clientsetup import ClientServices, Endpoint
from postel.clientsetup.autoconfig import autoconfig_xml

SERVICES = ClientServices(
    "mail.example.org",
    (Endpoint(993, "tls"), Endpoint(143, "starttls")),
    (Endpoint(465, "tls"), Endpoint(587, "starttls")),
)


def servers(root: object, tag: str) -> list[dict[str, str]]:
    out = []
    for el in root.iter(tag):  # type: ignore[attr-defined]
        d = {child.tag: child.text for child in el}
        d["type"] = el.get("type")
        out.append(d)
    return out


def test_document_lists_servers_in_order() -> None:
    data = autoconfig_xml(SERVICES, "example.org")
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig')
    root = DET.fromstring(data)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "example.org"
    assert provider.findtext("domain") == "example.org"
    common = {
        "hostname": "mail.example.org",
        "authentication": "password-cleartext",
        "username": "%EMAILADDRESS%",
    }
    assert servers(root, "incomingServer") == [
        {**common, "type": "imap", "port": "993", "socketType": "SSL"},
        {**common, "type": "imap", "port": "143", "socketType": "STARTTLS"},
    ]
    assert servers(root, "outgoingServer") == [
        {**common, "type": "smtp", "port": "465", "socketType": "SSL"},
        {**common, "type": "smtp", "port": "587", "socketType": "STARTTLS"},
    ]


def test_names_are_escaped() -> None:
    odd = ClientServices("mail.example.org", (Endpoint(993, "tls"),), ())
    root = DET.fromstring(autoconfig_xml(odd, "a<b&c.example"))
    assert root.find("emailProvider").findtext("domain") == "a<b&c.example"  # type: ignore[union-attr]
    assert servers(root, "outgoingServer") == []
