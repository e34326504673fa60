"""Login and logout with the admin password (postel.loginlimit: the one login limiter)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from postel.loginlimit import ADMIN, LoginLimitError, client_key
from postel.metrics import record as metrics
from postel.web import loginflow
from postel.web.admin.guard import field, page, public_page, redirect, render, session_of
from postel.web.admin.state import COOKIE, PREFIX, admin_state
from postel.web.auth import check_admin_password
from postel.web.sessions import Session

log = logging.getLogger("postel.web")

FAILURE_DELAY = 0.5  # seconds added to every failed login


def next_of(request: Request) -> str:
    """The deep link the login returns to: from the query (form) or the posted form."""
    if request.method == "POST":
        value = field(request, loginflow.NEXT_FIELD)
    else:
        value = request.query_params.get(loginflow.NEXT_FIELD, "")
    return loginflow.safe_next(value, PREFIX)


def set_cookie(request: Request, response: Response, session: Session) -> None:
    loginflow.set_session_cookie(request, response, session, cookie=COOKIE, prefix=PREFIX)


@public_page
async def login_form(request: Request) -> Response:
    return await loginflow.login_form(
        request,
        admin_state(request).sessions,
        lambda: render(request, "admin/login.html", error="", next=next_of(request)),
        cookie=COOKIE,
        prefix=PREFIX,
    )


@public_page
async def login(request: Request) -> Response:
    st = admin_state(request)
    host = request.client.host if request.client else None
    client = client_key(host)
    try:
        # Counted before the password is checked: concurrent guesses wait their turn.
        attempt = await st.limiter.reserve(host, ADMIN)
    except LoginLimitError as exc:
        log.info("login rate limited", extra={"client": client})
        metrics.authentication("http", "ratelimited")
        return loginflow.refused(
            exc,
            lambda status, error: render(
                request, "admin/login.html", status_code=status, error=error, next=next_of(request)
            ),
        )
    password = field(request, "password")
    path = st.cfg.path(st.cfg.static.admin_password_file)
    if not password or not await check_admin_password(path, password):
        log.info("admin login failed", extra={"client": client})
        metrics.authentication("http", "failure")
        await asyncio.sleep(FAILURE_DELAY)
        return render(
            request,
            "admin/login.html",
            status_code=401,
            error="Wrong password.",
            next=next_of(request),
        )
    await st.limiter.succeeded(attempt)
    metrics.authentication("http", "success")
    session = await st.sessions.alogin(session_of(request), "admin")
    log.info("admin logged in", extra={"client": client})
    response = redirect(next_of(request))
    set_cookie(request, response, session)
    return response


@page
async def logout(request: Request) -> Response:
    return await loginflow.logout(
        request, admin_state(request).sessions, cookie=COOKIE, prefix=PREFIX
    )
