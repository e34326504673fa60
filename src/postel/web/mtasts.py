"""Serving MTA-STS policies at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2).

Requests for host ``mta-sts.<domain>`` are answered here whatever their
path: the policy for the well-known path of a configured domain, 404 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from postel.config import Config
from postel.dnsrecords import mtasts_policy_text

WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"
HOST_PREFIX = "mta-sts."


def request_host(scope: Scope) -> str:
    """Host header without port and trailing dot, lower case."""
    for key, value in scope.get("headers", []):
        if key == b"host":
            host = str(value.decode("latin-1")).strip().lower()
            if host.startswith("["):
                return host
            return str(host.rsplit(":", 1)[0] if ":" in host else host).rstrip(".")
    return ""


def policy_for_host(cfg: Config, host: str) -> str | None:
    """The policy text for host mta-sts.<domain>, None when not ours or without policy."""
    if not host.startswith(HOST_PREFIX):
        return None
    domain = host[len(HOST_PREFIX) :]
    if domain not in cfg.domains.domains:
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        if domain not in cfg.domains.domains:
            return None
    return mtasts_policy_text(cfg.domains.domains[domain].mta_sts, cfg.static.hostname)


def policy_response(cfg: Config, request: Request) -> Response:
    host = request_host(request.scope)
    text = policy_for_host(cfg, host) if request.url.path == WELL_KNOWN_PATH else None
    if text is None:
        return PlainTextResponse("not found\n", status_code=404)
    # RFC 8461 §3.2: media type text/plain; short caching is up to us.
    return PlainTextResponse(
        text, media_type="text/plain", headers={"cache-control": "max-age=300"}
    )


class MTASTSHost:
    """ASGI middleware: requests for mta-sts.* hosts get the policy, others go on."""

    def __init__(self, app: ASGIApp, config: Callable[[], Config]) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and request_host(scope).startswith(HOST_PREFIX):
            request = Request(scope, receive)
            if request.method not in ("GET", "HEAD"):
                response: Response = PlainTextResponse(
                    "method not allowed\n", status_code=405, headers={"allow": "GET, HEAD"}
                )
            else:
                response = policy_response(self.config(), request)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
