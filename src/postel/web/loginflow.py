"""Session handling around login shared by admin and webmail: the session cookie,
the login form's anonymous session (it carries the form's CSRF token), logout,
the answer when the login limiter (postel.loginlimit) refuses an attempt, and
the deep link a login returns to (``next``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from postel.loginlimit import LoginLimitError
from postel.smtpserver.clientlimit import client_key
from postel.web.pagestate import redirect, session_of
from postel.web.sessions import Session, SessionStore

NEXT_FIELD = "next"
MAX_NEXT = 2000  # characters of a deep link carried through the login


def login_url(request: Request, prefix: str) -> str:
    """The login page of *prefix*, remembering the requested page (path and query)
    so that the login returns there."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if safe_next(target, prefix) == f"{prefix}/":
        return f"{prefix}/login"
    return f"{prefix}/login?{NEXT_FIELD}=" + quote(target, safe="/")


def safe_next(value: str, prefix: str) -> str:
    """Where a login may send the browser: *value* when it is a path of this app
    (below *prefix*, no scheme, no host, no backslash or control character, not
    the login or logout page), else the app's start page. Anything else would be
    an open redirect."""
    home = f"{prefix}/"
    if not value or len(value) > MAX_NEXT or not value.startswith(home):
        return home
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return home
    if {".", ".."} & set(unquote(parts.path).split("/")):
        return home  # browsers resolve dot segments: it could leave the app
    if parts.path in (f"{prefix}/login", f"{prefix}/logout"):
        return home
    return value


def set_session_cookie(
    request: Request, response: Response, session: Session, *, cookie: str, prefix: str
) -> None:
    """The session id cookie, only for *prefix*, not readable by scripts, same-site."""
    response.set_cookie(
        cookie,
        session.id,
        path=prefix,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def login_form(
    request: Request,
    sessions: SessionStore,
    render: Callable[[], Response],
    *,
    cookie: str,
    prefix: str,
) -> Response:
    """The login form from *render*, in a new anonymous session when there is none
    (counted against the client's budget of anonymous sessions); a logged-in
    session is sent on to the page it came for (``next``), or the start page."""
    session = session_of(request)
    if session is not None and session.authenticated:
        return redirect(safe_next(request.query_params.get(NEXT_FIELD, ""), prefix))
    if session is None:
        host = request.client.host if request.client else ""
        session = await sessions.anew(client=client_key(host) or host)
        request.state.session = session
    response = render()
    set_session_cookie(request, response, session, cookie=cookie, prefix=prefix)
    return response


async def logout(request: Request, sessions: SessionStore, *, cookie: str, prefix: str) -> Response:
    """End the session and clear its cookie; back to the login page."""
    session = session_of(request)
    if session is not None:
        await sessions.adelete(session.id)
    response = redirect(f"{prefix}/login")
    response.delete_cookie(cookie, path=prefix)
    return response


def refused(exc: LoginLimitError, render: Callable[[int, str], Response]) -> Response:
    """429 with Retry-After: the limiter refused the attempt before any password check.
    *render(status, error)* renders the login page."""
    wait = max(1, math.ceil(exc.retry_after))
    response = render(429, f"Too many failed logins: try again in {wait} seconds.")
    response.headers["retry-after"] = str(wait)
    return response
