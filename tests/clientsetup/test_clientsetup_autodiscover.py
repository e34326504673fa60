"""Autodiscover requests and responses (postel.clientsetup.autodiscover)."""

from __future__ import annotations

import defusedxml.ElementTree as DET
import pytest

from postel.clientsetup import BadSetupRequest, ClientServices, Endpoint, SetupRequestTooLarge
from postel.clientsetup.autodiscover import (
    MAX_REQUEST,
    OUTLOOK_NS,
    REQUEST_NS,
    RESPONSE_NS,
    accepts_outlook,
    autodiscover_xml,
    parse_request,
)

SERVICES = ClientServices(
    "mail.example.org",
    (Endpoint(993, "tls"), Endpoint(143, "starttls")),
    (Endpoint(587, "starttls"),),
)


def request(address: str, schema: str = OUTLOOK_NS) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}">'
        f"<Request><EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request>"
        "</Autodiscover>"
    ).encode()


def test_parse_outlook_request() -> None:
    req = parse_request(request(" you@example.org "))
    assert req.address == "you@example.org"
    assert accepts_outlook(req.schema)
    mobilesync = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
    assert not accepts_outlook(parse_request(request("a@example.org", mobilesync)).schema)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Autodiscover><Request>",
        b"<Other><Request><EMailAddress>a@example.org</EMailAddress></Request></Other>",
        b"<Autodiscover><Request></Request></Autodiscover>",
        # Entity expansion and external entities are refused, not expanded.
        b'<!DOCTYPE a [<!ENTITY e "a@example.org">]><Autodiscover><Request>'
        b"<EMailAddress>&e;</EMailAddress></Request></Autodiscover>",
        b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><Autodiscover><Request>'
        b"<EMailAddress>&e;</EMailAddress></Request></Autodiscover>",
    ],
)
def test_bad_requests_refused(body: bytes) -> None:
    with pytest.raises(BadSetupRequest):
        parse_request(body)


def test_large_request_refused() -> None:
    with pytest.raises(SetupRequestTooLarge, match="larger than 16384 bytes"):
        parse_request(request("a@example.org") + b" " * MAX_REQUEST)


def test_response_settings() -> None:
    root = DET.fromstring(autodiscover_xml(SERVICES, "you@example.org"))
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    ns = {"o": OUTLOOK_NS}
    account = root.find("o:Response/o:Account", ns)
    assert account is not None
    assert account.findtext("o:AccountType", namespaces=ns) == "email"
    assert account.findtext("o:Action", namespaces=ns) == "settings"
    protos = [
        {child.tag.rpartition("}")[2]: child.text for child in p}
        for p in account.findall("o:Protocol", ns)
    ]
    assert protos == [
        {
            "Type": "IMAP",
            "Server": "mail.example.org",
            "Port": "993",
            "LoginName": "you@example.org",
            "DomainRequired": "off",
            "SPA": "off",
            "SSL": "on",
            "Encryption": "SSL",
            "AuthRequired": "on",
        },
        {
            "Type": "SMTP",
            "Server": "mail.example.org",
            "Port": "587",
            "LoginName": "you@example.org",
            "DomainRequired": "off",
            "SPA": "off",
            "SSL": "on",
            "Encryption": "TLS",
            "AuthRequired": "on",
        },
    ]


def test_response_without_address_has_no_login_name() -> None:
    root = DET.fromstring(autodiscover_xml(SERVICES, None))
    assert b"LoginName" not in autodiscover_xml(SERVICES, None)
    assert len(root.findall(f".//{{{OUTLOOK_NS}}}Protocol")) == 2
