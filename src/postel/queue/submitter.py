"""QueueSubmitter: the postel.smtpserver Submitter that hands mail to the queue."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from postel.config import Config
from postel.errors import SMTPReplyError
from postel.queue.entries import QueueEntries
from postel.queue.errors import BadMessage
from postel.smtp.address import parse_address
from postel.smtp.errors import AddressError
from postel.smtp.quota import over_quota_error
from postel.store.api import Accounts
from postel.store.errors import OverQuota

if TYPE_CHECKING:
    from postel.queue.runner import QueueRunner

log = logging.getLogger("postel.queue")


class QueueSubmitter:
    """Local recipients (configured domains, postel.store.routing) go straight
    into their accounts; alias forwards and other domains are queued.

    *queue*: the runner delivering the entries when it runs in this process
    (it wakes on each add); None where another process delivers.
    """

    def __init__(
        self,
        cfg: Config,
        entries: QueueEntries,
        store: Accounts,
        *,
        queue: QueueRunner | None = None,
    ) -> None:
        self.cfg = cfg
        self.entries = entries
        self.store = store
        self.queue = queue

    def wake(self) -> None:
        """Wake the runner now (mail added by another process): a no-op where
        the runner is not in this process."""
        if self.queue is not None:
            self.queue.wake()

    async def __call__(
        self,
        account: str,
        mail_from: str,
        rcpts: list[str],
        path: Path,
        requiretls: bool,
        *,
        is_dmarc_report: bool = False,
    ) -> None:
        from postel.store.routing import is_local_domain, resolve_for_config

        cfg = self.cfg
        local: list[tuple[str, str]] = []
        remote: list[str] = []
        for rcpt in rcpts:
            try:
                addr = parse_address(rcpt, smtputf8=True)
            except AddressError as exc:
                raise SMTPReplyError(550, "5.1.3", f"bad recipient address {rcpt}: {exc}") from exc
            dest = resolve_for_config(cfg, rcpt)
            if dest is None:
                if is_local_domain(cfg, addr.domain):
                    raise SMTPReplyError(550, "5.1.1", f"{rcpt}: no such user here")
                if str(addr) not in remote:
                    remote.append(str(addr))
                continue
            local.extend(t for t in dest.accounts if t not in local)
            remote.extend(f for f in dest.forward if f not in remote)
        if remote:
            try:
                await asyncio.to_thread(
                    self.entries.add,
                    account,
                    mail_from,
                    remote,
                    path,
                    requiretls=requiretls,
                    is_dmarc_report=is_dmarc_report,
                )
            except BadMessage as exc:
                raise SMTPReplyError(550, "5.1.3", str(exc)) from exc
        if local:
            delivered, error = await self.store.deliver_file(local, path, requiretls=requiretls)
            for acc, msg in delivered:
                log.info("delivered locally", extra={"account": acc, "mailbox": msg.mailbox})
            if isinstance(error, OverQuota):
                raise over_quota_error(error) from error
            if error is not None:
                raise error
