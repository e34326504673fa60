"""The webmail Starlette app, mounted at /webmail by postel.web.app."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Route

from postel.config import Config
from postel.dns import Resolver
from postel.junk.training import trainer_for
from postel.loginlimit import LoginLimiter
from postel.netpolicy import AddressPolicy
from postel.web.sessions import SessionStore
from postel.web.templating import Templates
from postel.web.webmail import (
    api,
    bulk,
    compose,
    events,
    login,
    mailbox,
    manage,
    message,
    notfound,
    rows,
    search,
    settings,
    thread,
)
from postel.web.webmail.state import WebmailState

if TYPE_CHECKING:
    from postel.junk.store import JunkData
    from postel.mtastsdb import MTASTSDB, MTASTSCache
    from postel.queue import QueueRunner, QueueSubmitter
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import PasswordStore
    from postel.store.notify import LiveFeed

log = logging.getLogger("postel.web")


def default_submitter(cfg: Config, store: Accounts) -> QueueSubmitter:
    """A QueueSubmitter over the data directory's queue entries: local recipients
    are delivered at once, others queued; the running server's queue loop picks
    them up (it polls)."""
    from postel.queue import QueueSubmitter, SQLiteQueueEntries

    return QueueSubmitter(cfg, SQLiteQueueEntries(cfg.datadir), store)


def open_mtastsdb(cfg: Config) -> MTASTSDB | None:
    """The MTA-STS cache of the data directory; None (direct lookups) when it
    cannot be opened."""
    from postel.wiring import open_mtastsdb as open_cache

    try:
        return open_cache(cfg)
    except Exception as exc:  # the bar falls back to direct MTA-STS lookups
        log.warning(
            "mta-sts cache unavailable for webmail",
            extra={"file": str(cfg.datadir.mtasts_db), "err": repr(exc)},
        )
        return None


def internal_networks(cfg: Config) -> AddressPolicy:
    """Which internal addresses MTA-STS policy hosts may resolve to (postel.netpolicy)."""
    return AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks)


def routes() -> list[Route]:
    return [
        Route("/", mailbox.index),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/mailbox", mailbox.mailbox),
        Route("/bulk", bulk.bulk, methods=["POST"]),
        Route("/mailboxes", manage.mailboxes, methods=["GET"]),
        Route("/mailboxes", manage.change, methods=["POST"]),
        Route("/thread/{thread:int}", thread.thread),
        Route("/search", search.search),
        Route("/msg/{msgid:int}", message.read),
        Route("/msg/{msgid:int}/part/{index:int}", message.part),
        Route("/msg/{msgid:int}/action", message.action, methods=["POST"]),
        Route("/compose", compose.compose_form, methods=["GET"]),
        Route("/compose", compose.compose_submit, methods=["POST"]),
        Route("/api/recipientsecurity", api.recipient_security),
        Route("/settings", settings.settings),
        Route(settings.PROFILE_PATH, settings.profile),
        Route("/events", events.events),
        Route("/rows", rows.rows),
        # Last: every other URL below /webmail gets the webmail's own "not found" page.
        Route("/{path:path}", notfound.not_found, methods=["GET", "HEAD", "POST"]),
    ]


def build(
    cfg: Config,
    store: Accounts,
    resolver: Resolver,
    *,
    sessions: SessionStore | None = None,
    submitter: Submitter | None = None,
    queue: QueueRunner | None = None,
    mtastsdb: MTASTSCache | None = None,
    limiter: LoginLimiter | None = None,
    https_port: int = 443,
    feed: LiveFeed | None = None,
    own_sessions: SessionStore | None = None,
    passwords: PasswordStore | None = None,
    junk_data: JunkData | None = None,
) -> Starlette:
    """The webmail ASGI app. *sessions* is ignored on purpose: account sessions live
    in their own store so that no webmail session can ever pass as an admin session.
    *submitter* (or *queue*) is where sent mail goes; default: the data directory's
    queue, delivered by the server's queue loop. *feed*: the store's ChangeFeed
    (postel.store.notify) for live updates; without it /events answers 503.
    *own_sessions*: the webmail's session store (default: a new one in memory;
    on PostgreSQL the one the nodes share). *passwords*: the accounts'
    passwords (default: auth.db of the data directory). *junk_data*: where the
    junk filter keeps the accounts' data (default: their junk.db files)."""
    del sessions
    if submitter is None:
        if queue is not None:
            from postel.queue import QueueSubmitter

            submitter = QueueSubmitter(cfg, queue.entries, store, queue=queue)
        else:
            submitter = default_submitter(cfg, store)
    if mtastsdb is None:
        mtastsdb = open_mtastsdb(cfg)
    from postel.mtasts.fetch import make_ssl_context

    app = Starlette(routes=routes())
    app.state.webmail = WebmailState(
        cfg=cfg,
        store=store,
        resolver=resolver,
        sessions=own_sessions if own_sessions is not None else SessionStore(),
        limiter=limiter or LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings()),
        templates=Templates(),
        submitter=submitter,
        mtastsdb=mtastsdb,
        mtasts_ssl=make_ssl_context([cfg.path(p) for p in cfg.static.tls.extra_ca_files]),
        https_port=https_port,
        addresses=internal_networks(cfg),
        feed=feed,
        trainer=trainer_for(cfg, junk_data),
        passwords=passwords,
    )
    return app


__all__ = ["build"]
