"""Where submitted mail goes: the Submitter interface and LocalSubmitter."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from postel.config import Config
from postel.errors import SMTPReplyError
from postel.smtp.address import parse_address
from postel.smtp.errors import AddressError
from postel.smtp.quota import over_quota_error
from postel.store.errors import OverQuota
from postel.store.routing import RELAY_DENIED, RecipientRefused, resolve

if TYPE_CHECKING:
    from postel.store.api import Accounts

log = logging.getLogger("postel.smtpserver")


class Submitter(Protocol):
    """Takes responsibility for a submitted (or forwarded) message.

    *path* is a complete, fsynced file that is removed after the call returns:
    hard-link or copy it. Raise SMTPReplyError to refuse with a specific reply;
    any other exception gives the client a temporary failure. *account* is ""
    for mail forwarded by an alias.
    """

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None: ...


class LocalSubmitter:
    """Delivers to local accounts only (until the outgoing queue exists)."""

    def __init__(self, cfg: Config, store: Accounts) -> None:
        self.cfg = cfg
        self.store = store

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None:
        targets: list[tuple[str, str]] = []
        for rcpt in rcpts:
            try:
                local = resolve(self.cfg, parse_address(rcpt, smtputf8=True))
            except AddressError as exc:
                raise SMTPReplyError(550, "5.1.3", f"bad recipient address {rcpt}: {exc}") from exc
            except RecipientRefused as exc:
                if exc.reply == RELAY_DENIED:
                    raise SMTPReplyError(
                        550, "5.7.1", f"no outgoing queue yet: cannot deliver to {rcpt}"
                    ) from exc
                raise SMTPReplyError(
                    exc.reply.code, exc.reply.enhanced or "5.1.1", f"{rcpt}: {exc.reply.text}"
                ) from exc
            if local.forward:
                raise SMTPReplyError(
                    550, "5.7.1", f"no outgoing queue yet: {rcpt} forwards to other hosts"
                )
            targets.extend(t for t in local.deliveries if t not in targets)
        delivered, error = await self.store.deliver_file(targets, path, requiretls=requiretls)
        for acc, msg in delivered:
            log.info("delivered locally", extra={"account": acc, "mailbox": msg.mailbox})
        if isinstance(error, OverQuota):
            raise over_quota_error(error) from error
        if error is not None:
            raise error
