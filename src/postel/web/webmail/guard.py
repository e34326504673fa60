"""Access control of webmail pages: account session and CSRF; rendering helpers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, overload

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from postel.web.csrf import FIELD, check_post
from postel.web.loginflow import login_url
from postel.web.pagestate import field, flash, form_of, redirect, session_of
from postel.web.webmail.state import COOKIE, PREFIX, state_of

__all__ = [
    "MAX_UPLOAD",
    "account_of",
    "field",
    "flash",
    "form_of",
    "page",
    "redirect",
    "render",
    "session_of",
]


Handler = Callable[[Request], Awaitable[Response]]
MAX_UPLOAD = 25 * 1024 * 1024


def account_of(request: Request) -> str:
    s = session_of(request)
    assert s is not None and s.authenticated
    return s.user


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> Response:
    st = state_of(request)
    s = session_of(request)
    flashes = s.data.pop("flash", []) if s is not None else []
    return st.templates.render(
        name,
        status_code,
        request=request,
        session=s,
        account=s.user if s is not None else "",
        csrf=s.csrf if s is not None else "",
        csrf_field=FIELD,
        prefix=PREFIX,
        hostname=st.cfg.static.hostname,
        flashes=flashes,
        **ctx,
    )


@overload
def page(handler: Handler) -> Handler: ...
@overload
def page(*, public: bool = False, api: bool = False) -> Callable[[Handler], Handler]: ...
def page(
    handler: Handler | None = None, *, public: bool = False, api: bool = False
) -> Handler | Callable[[Handler], Handler]:
    """Wrap a webmail endpoint: require a logged-in session (redirect to the login
    page, or 401 for the API) and check CSRF token and Origin on POST (403)."""

    def wrap(h: Handler) -> Handler:
        @functools.wraps(h)
        async def endpoint(request: Request) -> Response:
            st = state_of(request)
            session = await st.sessions.aget(request.cookies.get(COOKIE))
            request.state.session = session
            if not public and (session is None or not session.authenticated):
                if api:
                    return JSONResponse({"error": "not logged in"}, status_code=401)
                if request.method in ("GET", "HEAD"):
                    return redirect(login_url(request, PREFIX))
                return PlainTextResponse("not logged in\n", status_code=403)
            if request.method == "POST":
                length = int(request.headers.get("content-length") or 0)
                if length > MAX_UPLOAD + 1024 * 1024:
                    return PlainTextResponse("request too large\n", status_code=413)
                refused = await check_post(request, session, max_files=50)
                if refused is not None:
                    return refused
            return await h(request)

        return endpoint

    if handler is not None:
        return wrap(handler)
    return wrap
