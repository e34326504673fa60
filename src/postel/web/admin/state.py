"""What the admin pages share: configuration, stores, sessions, limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from postel.config import Config
from postel.dns import Resolver
from postel.dnscheck import CheckOptions
from postel.loginlimit import LoginLimiter
from postel.tlsrptresultdb.api import TLSResults
from postel.web.sessions import SessionStore
from postel.web.templating import Templates

if TYPE_CHECKING:
    from postel.mtastsdb.api import MTASTSCache
    from postel.queue import QueueRunner
    from postel.receivedreports import ReceivedReports
    from postel.store.api import Accounts
    from postel.store.credentials import PasswordStore

COOKIE = "postel_admin"
PREFIX = "/admin"


@dataclass
class AdminState:
    cfg: Config
    store: Accounts
    resolver: Resolver
    sessions: SessionStore
    limiter: LoginLimiter  # shared with SMTP AUTH through auth.db
    templates: Templates
    internal: bool  # the listener is internal: admin allowed on any of its addresses
    check_options: CheckOptions | None = None
    # The server's runner; None: the queue entries are opened per request (the
    # data directory's, or on PostgreSQL those of all nodes).
    queue: QueueRunner | None = None
    resultdb: TLSResults | None = None  # the server's TLS results; None: opened per request
    # The server's received reports and MTA-STS cache (shared on PostgreSQL);
    # None: the data directory's files, opened per request.
    received: ReceivedReports | None = None
    mtastsdb: MTASTSCache | None = None
    edit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    passwords: PasswordStore | None = None  # None: auth.db of the data directory


def admin_state(request: Request) -> AdminState:
    st: AdminState = request.app.state.admin
    return st
