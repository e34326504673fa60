"""Access control of admin pages: listener, login session, CSRF; rendering helpers."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.web.admin.state import COOKIE, PREFIX, AdminState, admin_state
from postel.web.csrf import FIELD, check_post
from postel.web.loginflow import login_url
from postel.web.pagestate import field, flash, form_of, redirect, session_of

__all__ = [
    "NAV",
    "field",
    "flash",
    "forbidden",
    "form_of",
    "listener_allows_admin",
    "page",
    "public_page",
    "redirect",
    "render",
    "session_of",
]


Handler = Callable[[Request], Awaitable[Response]]

NAV = [
    ("Domains", "/admin/domains"),
    ("Accounts", "/admin/accounts"),
    ("TLS reports", "/admin/tlsrpt"),
    ("DMARC reports", "/admin/dmarc"),
    ("Outgoing TLS", "/admin/tlsresults"),
    ("Suppressions", "/admin/suppressions"),
    ("MTA-STS cache", "/admin/mtasts"),
    ("Queue", "/admin/queue"),
    ("Certificates", "/admin/certificates"),
    ("Blocklists", "/admin/dnsbl"),
]


def listener_allows_admin(request: Request, internal: bool) -> bool:
    """Admin only on internal listeners and on loopback addresses."""
    if internal:
        return True
    server = request.scope.get("server")
    if not server:
        return False
    try:
        return ipaddress.ip_address(str(server[0]).strip("[]")).is_loopback
    except ValueError:
        return False


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> Response:
    st = admin_state(request)
    s = session_of(request)
    flashes = s.data.pop("flash", []) if s is not None else []
    return st.templates.render(
        name,
        status_code,
        request=request,
        session=s,
        csrf=s.csrf if s is not None else "",
        csrf_field=FIELD,
        nav=NAV,
        path=request.url.path,
        hostname=st.cfg.static.hostname,
        flashes=flashes,
        **ctx,
    )


def forbidden(message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=403)


def _guard(h: Handler, public: bool) -> Handler:
    """Refuse other listeners (403), require a logged-in session unless *public*
    (redirect to the login page), check CSRF token and Origin on POST (403)."""

    @functools.wraps(h)
    async def endpoint(request: Request) -> Response:
        st: AdminState = admin_state(request)
        if not listener_allows_admin(request, st.internal):
            return forbidden("the admin is only served on internal listeners and loopback")
        session = await st.sessions.aget(request.cookies.get(COOKIE))
        request.state.session = session
        if not public and (session is None or not session.authenticated):
            if request.method in ("GET", "HEAD"):
                return redirect(login_url(request, PREFIX))
            return forbidden("not logged in")
        if request.method == "POST":
            refused = await check_post(request, session, max_files=0)
            if refused is not None:
                return refused
        return await h(request)

    return endpoint


def page(handler: Handler) -> Handler:
    """An admin page for the logged-in admin."""
    return _guard(handler, public=False)


def public_page(handler: Handler) -> Handler:
    """An admin page without login (the login form itself)."""
    return _guard(handler, public=True)
