"""Adding mail to an account and its limit: APPEND with MULTIAPPEND and
APPENDUID (RFC 3502, RFC 4315), and QUOTA (RFC 9208)."""

from __future__ import annotations

import logging

from postel.imapserver import appendcmd, quota
from postel.imapserver.announce import Announcing
from postel.imapserver.command import Command
from postel.imapserver.seqset import format_uids
from postel.store.errors import MailboxNotFound

log = logging.getLogger("postel.imapserver")


class StoringCommands(Announcing):
    """APPEND and the account's quota."""

    async def cmd_append(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if any(m.utf8 for m in cmd.messages) and not self.utf8:
            self.bad(cmd.tag, "the UTF8 APPEND data item needs ENABLE UTF8=ACCEPT")  # RFC 6855 §4
            return
        store = self._store()
        try:
            info = await self._thread(store.mailbox, name)
        except MailboxNotFound:
            self.no(cmd.tag, f"no mailbox {name!r}", "TRYCREATE")
            return
        # All or none (RFC 3502 §6.3.11); APPENDUID with a UID set (RFC 4315 §3).
        added = await self._thread(
            appendcmd.append_all, store, info.name, cmd.messages, self.limits.spill_dir
        )
        log.info(
            "imap append",
            extra={
                "account": self.account,
                "mailbox": info.name,
                "uid": format_uids([m.uid for m in added]),
            },
        )
        if self.selected is not None and self.selected.name == info.name:
            await self._announce()
        uids = format_uids([m.uid for m in added])
        self.ok(cmd.tag, "APPEND completed", f"APPENDUID {info.uidvalidity} {uids}")

    async def _quota(self) -> tuple[int, int]:
        """(usage, limit) of the account in bytes; limit 0: no quota."""
        limit = self.ctx.quota(self.account)
        used = await self._thread(self._store().usage) if limit else 0
        return used, limit

    async def cmd_getquotaroot(self, cmd: Command) -> None:
        info = await self._thread(self._store().mailbox, self.mailbox_in(cmd.mailbox))
        used, limit = await self._quota()
        self.send(quota.quotaroot_line(self.mailbox_out(info.name), limit > 0))
        if limit:
            self.send(quota.quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTAROOT completed")

    async def cmd_getquota(self, cmd: Command) -> None:
        used, limit = await self._quota()
        if cmd.mailbox.decode("utf-8", "replace") != quota.ROOT or not limit:
            self.no(cmd.tag, "no such quota root", "NONEXISTENT")
            return
        self.send(quota.quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTA completed")

    async def cmd_setquota(self, cmd: Command) -> None:
        self.no(cmd.tag, "quotas are set by the administrator (domains.toml)", "NOPERM")
