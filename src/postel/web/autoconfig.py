"""Client settings over HTTP(S) for hosted domains (docs/client-setup.md):

- Thunderbird's autoconfig at /mail/config-v1.1.xml and
  /.well-known/autoconfig/mail/config-v1.1.xml (GET, ``emailaddress`` parameter);
- Outlook's Autodiscover at /autodiscover/autodiscover.xml (POST of an XML
  request; GET with ``emailaddress`` too).

Requests for hosts autoconfig.<domain> and autodiscover.<domain> are answered
here whatever their path (404 off these paths), like mta-sts.<domain>
(postel.web.mtasts); on other hosts only these paths are. A domain that is not
hosted gets 404. Nothing here depends on whether an address exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from postel.clientsetup import BadSetupRequest, client_services
from postel.clientsetup.autoconfig import autoconfig_xml
from postel.clientsetup.autodiscover import (
    MAX_REQUEST,
    accepts_outlook,
    autodiscover_xml,
    parse_request,
)
from postel.clientsetup.errors import SetupRequestTooLarge
from postel.clientsetup.request import HOST_PREFIXES, checked_address, request_domain
from postel.config import Config
from postel.web.mtasts import request_host

log = logging.getLogger("postel.web")

AUTOCONFIG_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"  # matched without case: Outlook varies it
XML_TYPE = "application/xml"
CACHE = {"cache-control": "max-age=300"}


def _text(status: int, text: str, **headers: str) -> Response:
    return PlainTextResponse(text + "\n", status_code=status, headers=headers or None)


def _is_ours(path: str) -> bool:
    return path in AUTOCONFIG_PATHS or path.lower() == AUTODISCOVER_PATH


async def _body(request: Request) -> bytes:
    """The request body, at most MAX_REQUEST bytes (SetupRequestTooLarge beyond)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_REQUEST:
            raise SetupRequestTooLarge(
                f"body: request body larger than {MAX_REQUEST} bytes",
                limit="body",
                value=MAX_REQUEST,
            )
    return bytes(data)


async def _autodiscover(cfg: Config, request: Request, host: str) -> Response:
    if request.method == "POST":
        req = parse_request(await _body(request))
        if not accepts_outlook(req.schema):
            return _text(404, "only the Outlook response schema is served")
        raw: str | None = req.address
        where = "Autodiscover/Request/EMailAddress"
    else:
        raw, where = request.query_params.get("emailaddress"), "emailaddress"
    address = checked_address(raw, where) if raw is not None else None
    domain = request_domain(cfg.domains, host, address)
    if domain is None:
        return _text(404, "no mail service for this domain here")
    services = client_services(cfg.static)
    if not (services.imap or services.submission):
        return _text(404, "no IMAP or submission service here")
    return Response(
        autodiscover_xml(services, address),
        media_type=XML_TYPE,
        headers={"cache-control": "no-store"},
    )


def _autoconfig(cfg: Config, request: Request, host: str) -> Response:
    raw = request.query_params.get("emailaddress")
    address = checked_address(raw, "emailaddress") if raw is not None else None
    domain = request_domain(cfg.domains, host, address)
    if domain is None:
        return _text(404, "no mail service for this domain here")
    services = client_services(cfg.static)
    if not (services.imap or services.submission):
        return _text(404, "no IMAP or submission service here")
    return Response(autoconfig_xml(services, domain), media_type=XML_TYPE, headers=CACHE)


async def answer(cfg: Config, request: Request) -> Response:
    """The response to a client setup request (any path: 404 off ours)."""
    path, host = request.url.path, request_host(request.scope)
    try:
        if path in AUTOCONFIG_PATHS:
            if request.method not in ("GET", "HEAD"):
                return _text(405, "method not allowed", allow="GET, HEAD")
            return _autoconfig(cfg, request, host)
        if path.lower() == AUTODISCOVER_PATH:
            if request.method not in ("GET", "HEAD", "POST"):
                return _text(405, "method not allowed", allow="GET, HEAD, POST")
            return await _autodiscover(cfg, request, host)
    except (BadSetupRequest, SetupRequestTooLarge) as exc:
        log.info(
            "client setup request refused", extra={"host": host, "path": path, "err": str(exc)}
        )
        return _text(413 if isinstance(exc, SetupRequestTooLarge) else 400, str(exc))
    return _text(404, "not found")


class ClientSetup:
    """ASGI middleware: autoconfig.* and autodiscover.* hosts, and the setup paths
    on any host, are answered here; other requests go on."""

    def __init__(self, app: ASGIApp, config: Callable[[], Config]) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            request_host(scope).startswith(HOST_PREFIXES) or _is_ours(scope.get("path", ""))
        ):
            response = await answer(self.config(), Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
