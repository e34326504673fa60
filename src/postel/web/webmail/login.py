"""Webmail login per account (e-mail address + password), limited by postel.loginlimit."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from postel.loginlimit import LoginLimitError, account_key, client_key
from postel.metrics import record as metrics
from postel.store.credentials import Credentials
from postel.web import loginflow
from postel.web.sessions import Session
from postel.web.webmail.guard import field, page, redirect, render, session_of
from postel.web.webmail.state import COOKIE, PREFIX, state_of

log = logging.getLogger("postel.web")

FAILURE_DELAY = 0.5


def set_cookie(request: Request, response: Response, session: Session) -> None:
    loginflow.set_session_cookie(request, response, session, cookie=COOKIE, prefix=PREFIX)


def next_of(request: Request) -> str:
    """The deep link the login returns to: from the query (form) or the posted form."""
    if request.method == "POST":
        value = field(request, loginflow.NEXT_FIELD)
    else:
        value = request.query_params.get(loginflow.NEXT_FIELD, "")
    return loginflow.safe_next(value, PREFIX)


def verify(auth_db: object, account: str, password: str) -> bool:
    from pathlib import Path

    creds = Credentials(Path(str(auth_db)))
    try:
        return creds.verify(account, password)
    finally:
        creds.close()


@page(public=True)
async def login_form(request: Request) -> Response:
    return await loginflow.login_form(
        request,
        state_of(request).sessions,
        lambda: render(request, "webmail/login.html", error="", address="", next=next_of(request)),
        cookie=COOKIE,
        prefix=PREFIX,
    )


@page(public=True)
async def login(request: Request) -> Response:
    st = state_of(request)
    host = request.client.host if request.client else None
    client = client_key(host)
    address = field(request, "address")
    account = st.cfg.domains.account_for_address(address) if "@" in address else None
    try:
        # Counted before the password is checked: concurrent guesses wait their turn.
        attempt = await st.limiter.reserve(host, account_key(account, address))
    except LoginLimitError as exc:
        log.info("webmail login rate limited", extra={"client": client})
        metrics.authentication("http", "ratelimited")
        return loginflow.refused(
            exc,
            lambda status, error: render(
                request,
                "webmail/login.html",
                status_code=status,
                address=address,
                error=error,
                next=next_of(request),
            ),
        )
    password = field(request, "password", strip=False)
    ok = False
    if password:
        # Verify even for unknown addresses so timing does not tell which exist.
        name = account or "\x00unknown"
        if st.passwords is not None:  # the server's (on PostgreSQL, every node's)
            ok = await asyncio.to_thread(st.passwords.verify, name, password)
        else:
            ok = await asyncio.to_thread(verify, st.cfg.datadir.auth_db, name, password)
    if not ok or account is None:
        log.info("webmail login failed", extra={"client": client})
        metrics.authentication("http", "failure")
        await asyncio.sleep(FAILURE_DELAY)
        return render(
            request,
            "webmail/login.html",
            status_code=401,
            address=address,
            error="Wrong address or password.",
            next=next_of(request),
        )
    await st.limiter.succeeded(attempt)
    metrics.authentication("http", "success")
    session = await st.sessions.alogin(session_of(request), account, {"address": address.lower()})
    log.info("webmail login", extra={"client": client, "account": account})
    response = redirect(next_of(request))
    set_cookie(request, response, session)
    return response


@page
async def logout(request: Request) -> Response:
    return await loginflow.logout(request, state_of(request).sessions, cookie=COOKIE, prefix=PREFIX)
