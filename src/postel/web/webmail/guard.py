"""Access control of webmail pages: account session and CSRF; rendering helpers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, overload

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from postel.web.csrf import FIELD, origin_ok, token_ok
from postel.web.sessions import Session
from postel.web.webmail.state import COOKIE, PREFIX, state_of

log = logging.getLogger("postel.web")

Handler = Callable[[Request], Awaitable[Response]]
MAX_UPLOAD = 25 * 1024 * 1024


def session_of(request: Request) -> Session | None:
    s: Session | None = getattr(request.state, "session", None)
    return s


def account_of(request: Request) -> str:
    s = session_of(request)
    assert s is not None and s.authenticated
    return s.user


def form_of(request: Request) -> FormData:
    f: FormData = request.state.form
    return f


def field(request: Request, name: str, strip: bool = True) -> str:
    value = form_of(request).get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def flash(request: Request, message: str, kind: str = "ok") -> None:
    s = session_of(request)
    if s is not None:
        s.data.setdefault("flash", []).append((kind, message))


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


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
            session = st.sessions.get(request.cookies.get(COOKIE))
            request.state.session = session
            if not public and (session is None or not session.authenticated):
                if api:
                    return JSONResponse({"error": "not logged in"}, status_code=401)
                if request.method in ("GET", "HEAD"):
                    return redirect(f"{PREFIX}/login")
                return PlainTextResponse("not logged in\n", status_code=403)
            if request.method == "POST":
                length = int(request.headers.get("content-length") or 0)
                if length > MAX_UPLOAD + 1024 * 1024:
                    return PlainTextResponse("request too large\n", status_code=413)
                form = await request.form(max_files=50, max_fields=200)
                request.state.form = form
                token = form.get(FIELD)
                if not origin_ok(request) or not token_ok(
                    session, token if isinstance(token, str) else None
                ):
                    log.info("csrf check failed", extra={"path": request.url.path})
                    return PlainTextResponse(
                        "CSRF check failed: reload the page and try again\n", status_code=403
                    )
            return await h(request)

        return endpoint

    if handler is not None:
        return wrap(handler)
    return wrap
