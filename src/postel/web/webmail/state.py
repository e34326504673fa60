"""What the webmail pages share: configuration, stores, sessions, submission."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from postel.config import Config
from postel.dns import Resolver
from postel.junk.training import Trainer
from postel.loginlimit import LoginLimiter
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy
from postel.store.names import DEFAULT_MAILBOXES
from postel.web.sessions import SessionStore
from postel.web.templating import Templates
from postel.web.webmail.streamslots import StreamSlots

if TYPE_CHECKING:
    from postel.mtastsdb import MTASTSCache
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import PasswordStore
    from postel.store.notify import LiveFeed

COOKIE = "postel_webmail"
PREFIX = "/webmail"
PAGE_SIZE = 50
# Mailboxes the webmail never renames or deletes (postel.store.names.DEFAULT_MAILBOXES:
# the store creates them again when missing).
SPECIAL = DEFAULT_MAILBOXES
EMPTIABLE = ("Trash", "Junk")


@dataclass
class WebmailState:
    cfg: Config
    store: Accounts
    resolver: Resolver
    sessions: SessionStore  # webmail's own: an account session must never pass as admin
    limiter: LoginLimiter  # shared with SMTP AUTH through auth.db
    templates: Templates
    submitter: Submitter
    mtastsdb: MTASTSCache | None = None  # None: direct MTA-STS lookups
    mtasts_ssl: ssl.SSLContext | None = None
    https_port: int = 443
    addresses: AddressPolicy = PUBLIC_ONLY  # policy hosts that direct lookups may fetch from
    feed: LiveFeed | None = None  # live updates (webmail/events.py)
    trainer: Trainer | None = None  # the junk filter learns from moves and reads
    streams: StreamSlots = field(default_factory=StreamSlots)
    passwords: PasswordStore | None = None  # None: auth.db of the data directory


def state_of(request: Request) -> WebmailState:
    st: WebmailState = request.app.state.webmail
    return st
