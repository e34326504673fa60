"""Client settings through the web app (postel.web.autoconfig): autoconfig for hosts
autoconfig.<domain> and on the mail host, Autodiscover, and what is refused.

The instance is localserve's: one internal listener on loopback (no public one,
so its own ports are the ones told: IMAPS 1993, submissions 1465)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack

import defusedxml.ElementTree as DET
import httpx
import pytest
from starlette.testclient import TestClient
from webtestlib import Instance

from postel.clientsetup.autodiscover import OUTLOOK_NS, REQUEST_NS
from postel.localserve import ADDRESS, DOMAIN, HOSTNAME, PORTS
from postel.web import start_web

CONFIG = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
AUTODISCOVER = "/autodiscover/autodiscover.xml"
NS = {"o": OUTLOOK_NS}


@pytest.fixture
def web(instance: Instance) -> Iterator[TestClient]:
    with TestClient(instance.app(autoconfig=True), follow_redirects=False) as c:
        yield c


def incoming(text: bytes) -> list[tuple[str, str, str]]:
    root = DET.fromstring(text)
    return [
        (s.findtext("hostname") or "", s.findtext("port") or "", s.findtext("socketType") or "")
        for s in root.iter("incomingServer")
    ]


def discover_body(address: str, schema: str = OUTLOOK_NS) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    )


def test_autoconfig_host(web: TestClient) -> None:
    r = web.get(f"{CONFIG}?emailaddress={ADDRESS}", headers={"host": f"autoconfig.{DOMAIN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert incoming(r.content) == [
        (HOSTNAME, str(PORTS["imaps"]), "SSL"),
        (HOSTNAME, str(PORTS["imap"]), "STARTTLS"),
    ]
    root = DET.fromstring(r.content)
    assert [s.findtext("port") for s in root.iter("outgoingServer")] == [
        str(PORTS["submissions"]),
        str(PORTS["submission"]),
    ]
    # Thunderbird also asks without the parameter; and the host may carry a port.
    r2 = web.get(CONFIG, headers={"host": f"autoconfig.{DOMAIN}:443"})
    assert r2.status_code == 200 and r2.content == r.content


def test_autoconfig_on_mail_host_and_domain(web: TestClient) -> None:
    by_host = web.get(CONFIG, headers={"host": f"autoconfig.{DOMAIN}"}).content
    r = web.get(f"{CONFIG}?emailaddress={ADDRESS}", headers={"host": HOSTNAME})
    assert r.status_code == 200 and r.content == by_host
    r = web.get(f"{WELL_KNOWN}?emailaddress={ADDRESS}", headers={"host": DOMAIN})
    assert r.status_code == 200 and r.content == by_host
    # The mail host names no domain: the address must.
    assert web.get(CONFIG, headers={"host": HOSTNAME}).status_code == 404


def test_same_answer_for_unknown_address(web: TestClient) -> None:
    """Nothing tells whether an address exists."""
    known = web.get(f"{CONFIG}?emailaddress={ADDRESS}", headers={"host": HOSTNAME})
    unknown = web.get(f"{CONFIG}?emailaddress=nobody@{DOMAIN}", headers={"host": HOSTNAME})
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content


def test_unknown_domain_not_found(web: TestClient) -> None:
    for host, query in (
        ("autoconfig.other.example", ""),
        ("autoconfig.other.example", f"?emailaddress={ADDRESS}"),
        (HOSTNAME, "?emailaddress=a@other.example"),
        (f"autoconfig.{DOMAIN}", "?emailaddress=a@other.example"),
    ):
        r = web.get(CONFIG + query, headers={"host": host})
        assert r.status_code == 404, (host, query)


def test_bad_address_refused(web: TestClient) -> None:
    for bad in ("nobody", "a b@postel.localhost", "a@", "x" * 300 + "@postel.localhost"):
        r = web.get(CONFIG, params={"emailaddress": bad}, headers={"host": f"autoconfig.{DOMAIN}"})
        assert r.status_code == 400, bad
        assert r.text.startswith("emailaddress: ") and r.text.count("\n") == 1


def test_autoconfig_host_answers_nothing_else(web: TestClient) -> None:
    host = {"host": f"autoconfig.{DOMAIN}"}
    assert web.get("/", headers=host).status_code == 404
    assert web.get("/admin/login", headers=host).status_code == 404
    r = web.post(CONFIG, headers=host)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    # Other hosts keep their pages.
    assert web.get("/admin/login", headers={"host": HOSTNAME}).status_code == 200


def test_autodiscover_post(web: TestClient) -> None:
    for host, path in (
        (HOSTNAME, AUTODISCOVER),
        (f"autodiscover.{DOMAIN}", "/Autodiscover/Autodiscover.xml"),
    ):
        r = web.post(
            path,
            content=discover_body(ADDRESS),
            headers={"host": host, "content-type": "text/xml"},
        )
        assert r.status_code == 200, host
        account = DET.fromstring(r.content).find("o:Response/o:Account", NS)
        assert account is not None
        protos = account.findall("o:Protocol", NS)
        assert [
            (p.findtext("o:Type", namespaces=NS), p.findtext("o:Port", namespaces=NS),
             p.findtext("o:LoginName", namespaces=NS)) for p in protos
        ] == [
            ("IMAP", str(PORTS["imaps"]), ADDRESS),
            ("SMTP", str(PORTS["submissions"]), ADDRESS),
        ]  # fmt: skip


def test_autodiscover_get(web: TestClient) -> None:
    r = web.get(f"{AUTODISCOVER}?emailaddress={ADDRESS}", headers={"host": HOSTNAME})
    assert r.status_code == 200 and ADDRESS.encode() in r.content
    r = web.get(AUTODISCOVER, headers={"host": f"autodiscover.{DOMAIN}"})
    assert r.status_code == 200 and b"LoginName" not in r.content
    assert web.get(AUTODISCOVER, headers={"host": HOSTNAME}).status_code == 404


def test_autodiscover_refusals(web: TestClient) -> None:
    def post(body: str | bytes) -> httpx.Response:
        return web.post(AUTODISCOVER, content=body, headers={"host": HOSTNAME})

    assert post(discover_body("a@other.example")).status_code == 404
    mobilesync = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
    assert post(discover_body(ADDRESS, mobilesync)).status_code == 404
    bomb = (
        '<!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;">]>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>&y;@{DOMAIN}'
        "</EMailAddress></Request></Autodiscover>"
    )
    r = post(bomb)
    assert r.status_code == 400 and r.text.startswith("body: ")
    assert post(discover_body("not an address")).status_code == 400
    r = post(b"<Autodiscover>" + b" " * 20000)
    assert r.status_code == 413 and r.text == "body: request body larger than 16384 bytes\n"
    assert web.put(AUTODISCOVER, headers={"host": HOSTNAME}).status_code == 405


def test_off_without_the_option(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=False) as c:
        assert c.get(f"{CONFIG}?emailaddress={ADDRESS}").status_code == 404


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_listener_serves_it_by_default(instance: Instance) -> None:
    """[listeners.X.web] autoconfig is on unless switched off."""
    port = free_port()
    lst = instance.cfg.static.listeners["local"]
    assert lst.web.autoconfig
    lst.web.port = port
    async with AsyncExitStack() as stack:
        await start_web(instance.cfg, instance.store, instance.resolver, stack)
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(
                f"http://127.0.0.1:{port}{CONFIG}", headers={"host": f"autoconfig.{DOMAIN}"}
            )
    assert r.status_code == 200 and (HOSTNAME, str(PORTS["imaps"]), "SSL") in incoming(r.content)
