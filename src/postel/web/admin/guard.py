"""Access control of admin pages: listener, login session, CSRF; rendering helpers."""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from postel.web.admin.state import COOKIE, PREFIX, AdminState, admin_state
from postel.web.csrf import FIELD, origin_ok, token_ok
from postel.web.sessions import Session

log = logging.getLogger("postel.web")

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


def session_of(request: Request) -> Session | None:
    s: Session | None = getattr(request.state, "session", None)
    return s


def form_of(request: Request) -> FormData:
    f: FormData = request.state.form
    return f


def field(request: Request, name: str) -> str:
    value = form_of(request).get(name)
    return value.strip() if isinstance(value, str) else ""


def flash(request: Request, message: str, kind: str = "ok") -> None:
    s = session_of(request)
    if s is not None:
        s.data.setdefault("flash", []).append((kind, message))


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


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
        session = st.sessions.get(request.cookies.get(COOKIE))
        request.state.session = session
        if not public and (session is None or not session.authenticated):
            if request.method in ("GET", "HEAD"):
                return redirect(f"{PREFIX}/login")
            return forbidden("not logged in")
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=200)
            request.state.form = form
            token = form.get(FIELD)
            if not origin_ok(request) or not token_ok(
                session, token if isinstance(token, str) else None
            ):
                log.info("csrf check failed", extra={"path": request.url.path})
                return forbidden("CSRF check failed: reload the page and try again")
        return await h(request)

    return endpoint


def page(handler: Handler) -> Handler:
    """An admin page for the logged-in admin."""
    return _guard(handler, public=False)


def public_page(handler: Handler) -> Handler:
    """An admin page without login (the login form itself)."""
    return _guard(handler, public=True)
