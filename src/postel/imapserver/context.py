"""What every IMAP session of a server shares: settings, logins, the store,
TLS, per-account connection counts and the "something changed" seam."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from postel.imapserver.derived import DerivedCache
from postel.imapserver.storeapi import MailStore
from postel.junk.training import Trainer
from postel.sasl import PasswordCheck


@dataclass(frozen=True)
class Settings:
    """The [imap] section's limits (postel.config.model.IMAPConfig)."""

    max_line: int = 8192
    max_literal: int = 50 * 1024 * 1024  # APPENDLIMIT: the configured message size limit
    unauthenticated_timeout: float = 60.0
    idle_timeout: float = 1800.0  # RFC 9051 §5.4: at least 30 minutes
    max_connections_per_account: int = 50
    recheck_interval: float = 2.0  # seconds between looks at a selected mailbox in IDLE
    spill_dir: Path = Path("/tmp")


class Changes(Protocol):
    """Waits until something may have changed in an account (a delivery, a flag
    set by webmail, another IMAP session), or *timeout* seconds passed.

    The seam for the store's cross-process change notifications; until they
    exist, :class:`PollChanges` simply waits the timeout."""

    async def wait(self, account: str, timeout: float) -> None: ...


class PollChanges:
    async def wait(self, account: str, timeout: float) -> None:
        await asyncio.sleep(timeout)


@dataclass
class SessionContext:
    settings: Settings
    logins: PasswordCheck
    open_store: Callable[[str], MailStore]
    tls: ssl.SSLContext | None = None  # for STARTTLS
    changes: Changes = field(default_factory=PollChanges)
    per_account: Counter[str] = field(default_factory=Counter)
    derived: DerivedCache = field(default_factory=DerivedCache)
    trainer: Trainer | None = None  # the junk filter learns from moves and flags
    quota: Callable[[str], int] = lambda account: 0  # bytes, 0: none (RFC 9208)
