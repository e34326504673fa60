"""What every SMTP session of a running service shares."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from postel.config import Config
from postel.smtpserver.clientlimit import ClientConnections

if TYPE_CHECKING:
    from postel.dmarcevaldb import EvalRecorder
    from postel.dns import Resolver
    from postel.junk.filter import JunkFilter
    from postel.loginlimit import LoginLimiter
    from postel.smtpserver.junkfiling import FilingRecorder
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import Passwords

Kind = Literal["smtp", "submission", "submissions"]

log = logging.getLogger("postel.smtpserver")


@dataclass
class ServerContext:
    cfg: Config
    store: Accounts
    resolver: Resolver
    submitter: Submitter
    credentials: Passwords | None
    # Shared with the other processes through auth.db; None: AUTH is refused.
    limiter: LoginLimiter | None = None
    # Seconds to wait after a failed AUTH, multiplied by the number of failures.
    auth_failure_delay: float = 1.0
    # Longest wait for SPF/DKIM/DMARC verification before "temperror" is recorded.
    verify_timeout: float = 30.0
    # Longest wait for the reverse DNS name of a client.
    rdns_timeout: float = 5.0
    connections: int = 0
    clients: ClientConnections = field(default_factory=ClientConnections)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Where DMARC evaluations of incoming mail go (None: not recorded).
    evaluations: EvalRecorder | None = None
    # The accounts' junk filter ([junk] enabled; None: off).
    junk: JunkFilter | None = None
    # Records the junk filings of delivered messages, batched (made on first use).
    junk_recorder: FilingRecorder | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run *coro* in the background; stop() waits for it."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
