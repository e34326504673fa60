"""CSRF protection: a per-session token in every form plus an Origin check."""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.web.sessions import Session

log = logging.getLogger("postel.web")

FIELD = "csrf"


def own_origin(request: Request) -> str:
    """scheme://host[:port] of this request as the browser addressed it."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def origin_ok(request: Request) -> bool:
    """Origin (or, without it, Referer) must be this site when the browser sends one;
    Sec-Fetch-Site must not say cross-site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own_origin(request)
    referer = request.headers.get("referer")
    if referer:
        return (referer.lower() + "/").startswith(own_origin(request) + "/")
    return True


def token_ok(session: Session | None, token: str | None) -> bool:
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())


async def check_post(
    request: Request, session: Session | None, *, max_files: int
) -> Response | None:
    """Read the posted form into ``request.state.form`` and check its CSRF token and
    the Origin; a 403 response when either is wrong, None when both are right."""
    form = await request.form(max_files=max_files, max_fields=200)
    request.state.form = form
    token = form.get(FIELD)
    if not origin_ok(request) or not token_ok(session, token if isinstance(token, str) else None):
        log.info("csrf check failed", extra={"path": request.url.path})
        return PlainTextResponse(
            "CSRF check failed: reload the page and try again\n", status_code=403
        )
    return None
