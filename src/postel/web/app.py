"""The Starlette application of one web listener: admin, webmail, MTA-STS policies,
client settings.

Parts are switched on per listener (postel.toml [listeners.X.web]). The
webmail (postel.web.webmail) is mounted at /webmail.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from postel.config import Config
from postel.dns import Resolver
from postel.dnscheck import CheckOptions
from postel.loginlimit import LoginLimiter
from postel.metrics.asgi import HTTPMetrics
from postel.tlsreload import ChallengeSource
from postel.tlsrptresultdb.api import TLSResults
from postel.web.aborted import ClientAborts
from postel.web.acmechallenge import ACMEChallenge
from postel.web.admin import AdminState
from postel.web.admin import routes as admin_routes
from postel.web.autoconfig import ClientSetup
from postel.web.headers import SecurityHeaders
from postel.web.mtasts import MTASTSHost
from postel.web.requestlimits import DEFAULT_MAX_BODY, RequestLimits
from postel.web.sessions import SessionStore
from postel.web.templating import STATIC_DIR, Templates

if TYPE_CHECKING:
    from postel.junk.store import JunkData
    from postel.mtastsdb import MTASTSCache
    from postel.queue import QueueRunner
    from postel.receivedreports import ReceivedReports
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import PasswordStore
    from postel.store.notify import LiveFeed

log = logging.getLogger("postel.web")


def _webmail_app(
    cfg: Config,
    store: Accounts,
    resolver: Resolver,
    sessions: SessionStore,
    queue: QueueRunner | None,
    submitter: Submitter | None,
    limiter: LoginLimiter,
    feed: LiveFeed | None,
    mtastsdb: MTASTSCache | None,
    webmail_sessions: SessionStore | None,
    passwords: PasswordStore | None,
    junk_data: JunkData | None,
) -> Starlette:
    from postel.web.webmail import build

    return build(
        cfg,
        store,
        resolver,
        sessions=sessions,
        queue=queue,
        submitter=submitter,
        limiter=limiter,
        feed=feed,
        mtastsdb=mtastsdb,
        own_sessions=webmail_sessions,
        passwords=passwords,
        junk_data=junk_data,
    )


def build_app(
    cfg: Config,
    store: Accounts,
    resolver: Resolver,
    *,
    admin: bool,
    webmail: bool,
    mtasts: bool,
    autoconfig: bool = False,
    internal: bool = False,
    sessions: SessionStore | None = None,
    limiter: LoginLimiter | None = None,
    check_options: CheckOptions | None = None,
    queue: QueueRunner | None = None,
    submitter: Submitter | None = None,
    challenges: ChallengeSource | None = None,
    feed: LiveFeed | None = None,
    resultdb: TLSResults | None = None,
    mtastsdb: MTASTSCache | None = None,
    webmail_sessions: SessionStore | None = None,
    passwords: PasswordStore | None = None,
    received: ReceivedReports | None = None,
    junk_data: JunkData | None = None,
) -> Starlette:
    """One listener's app. *internal*: the listener is internal (admin allowed on all
    its addresses; otherwise only on loopback). *sessions*/*limiter* may be shared
    between listeners. *autoconfig*: client settings (postel.web.autoconfig). *feed*:
    the store's postel.store.notify.ChangeFeed, for the webmail's live updates (none
    without it). *mtastsdb*: the MTA-STS cache for the webmail's recipient security
    (else it opens its own). *webmail_sessions*: the webmail's own session store
    (else a new one in memory). *passwords*: the accounts' passwords (else
    auth.db of the data directory). *received*: the server's received reports
    (else the admin pages open the data directory's files). *junk_data*: where
    the junk filter keeps the accounts' data (else their junk.db files)."""
    sessions = sessions if sessions is not None else SessionStore()
    # One limiter for admin and webmail logins (and, through auth.db, SMTP AUTH).
    limiter = limiter or LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings())
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=str(STATIC_DIR)))]
    if admin:
        routes.append(Mount("/admin", routes=admin_routes()))
    webmail_app = (
        _webmail_app(
            cfg,
            store,
            resolver,
            sessions,
            queue,
            submitter,
            limiter,
            feed,
            mtastsdb,
            webmail_sessions,
            passwords,
            junk_data,
        )
        if webmail
        else None
    )
    if webmail_app is not None:
        routes.append(Mount("/webmail", app=webmail_app))

    async def root(request: Request) -> Response:
        if admin:
            return RedirectResponse("/admin/", status_code=303)
        if webmail_app is not None:
            return RedirectResponse("/webmail/", status_code=303)
        return PlainTextResponse("not found\n", status_code=404)

    async def admin_slash(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=307)

    routes.append(Route("/", root))
    if admin:
        routes.append(Route("/admin", admin_slash))
    from postel.web.webmail.guard import MAX_UPLOAD

    middleware = [
        Middleware(HTTPMetrics),
        Middleware(ClientAborts),
        Middleware(SecurityHeaders),
        # Attachments plus the rest of the compose form (as the webmail guard allows).
        Middleware(
            RequestLimits, default=DEFAULT_MAX_BODY, limits={"/webmail": MAX_UPLOAD + 1024 * 1024}
        ),
    ]
    if mtasts:
        middleware.append(Middleware(MTASTSHost, config=lambda: cfg))
    if autoconfig:
        middleware.append(Middleware(ClientSetup, config=lambda: cfg))
    if challenges is not None:
        # ACME HTTP-01 tokens (RFC 8555 §8.3) before anything else, any Host.
        middleware.insert(0, Middleware(ACMEChallenge, challenges=challenges))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.admin = AdminState(
        cfg=cfg,
        store=store,
        resolver=resolver,
        sessions=sessions,
        limiter=limiter,
        templates=Templates(),
        internal=internal,
        check_options=check_options,
        queue=queue,
        resultdb=resultdb,
        passwords=passwords,
        received=received,
        mtastsdb=mtastsdb,
    )
    return app
