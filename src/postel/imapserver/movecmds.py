"""Messages leaving the selected mailbox or copied out of it: EXPUNGE and
UID EXPUNGE (RFC 4315), CLOSE (an expunge without responses, then leaving,
RFC 9051 §6.4.1), COPY and MOVE (RFC 6851) with COPYUID."""

from __future__ import annotations

import contextlib

from postel.imapserver import training
from postel.imapserver.announce import Announcing
from postel.imapserver.command import Command
from postel.imapserver.selected import refresh
from postel.imapserver.seqset import SeqSet, format_uids
from postel.imapserver.sessionbase import AUTH
from postel.imapserver.storeapi import iter_messages, page_messages
from postel.store.errors import MailboxNotFound, MessageNotFound


class MoveCommands(Announcing):
    """Removing messages from the selected mailbox, copying and moving them."""

    async def cmd_expunge(self, cmd: Command) -> None:
        if self._sel().readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        await self._expunge(cmd.seqset if cmd.uid else None, silent=False)
        self.ok(cmd.tag, "EXPUNGE completed")

    async def _expunge(self, uids: SeqSet | None, *, silent: bool) -> None:
        sel = self._sel()
        store = self._store()
        largest = sel.largest_uid

        def run() -> list[int]:
            gone = []
            for msg in iter_messages(store, sel.name):
                if "\\Deleted" not in msg.flags:
                    continue
                if uids is not None and not uids.contains(msg.uid, largest):
                    continue
                if sel.msn(msg.uid) == 0:
                    continue  # not announced to this session yet
                with contextlib.suppress(MessageNotFound):
                    store.remove(msg.msgid)
                gone.append(msg.uid)
            return gone

        await self._thread(run)
        if not silent:
            await self._announce()
        else:
            await self._thread(refresh, store, sel)

    async def cmd_copy(self, cmd: Command, move: bool = False) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        if move and sel.readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        store = self._store()
        target_name = self.mailbox_in(cmd.mailbox)
        try:
            target = await self._thread(store.mailbox, target_name)
        except MailboxNotFound:
            self.no(cmd.tag, f"no mailbox {target_name!r}", "TRYCREATE")
            return
        if move and target.name == sel.name:
            self.no(cmd.tag, "source and target mailbox are the same", "CANNOT")
            return
        uids = self._resolve(cmd.seqset, cmd.uid)

        verdict = training.verdict_for_move(sel.name, target.name)
        learned: list[tuple[int, bool | None]] = []

        def run() -> list[tuple[int, int]]:
            pairs = []
            for msg in page_messages(store, sel.name, uids):
                try:
                    new = (
                        store.move(msg.msgid, target.name)
                        if move
                        else store.copy(msg.msgid, target.name)
                    )
                except MessageNotFound:
                    continue
                pairs.append((msg.uid, new.uid))
                learned.append((new.msgid, verdict))
            return pairs

        pairs = await self._thread(run)
        await self._learn(learned)
        code = ""
        if pairs:
            code = (
                f"COPYUID {target.uidvalidity} {format_uids([a for a, _ in pairs])} "
                f"{format_uids([b for _, b in pairs])}"
            )
        if move:
            if code:  # RFC 6851 §4.3: COPYUID in an untagged OK before the expunges
                self.send(f"* OK [{code}] moved".encode())
            await self._announce()
            self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}MOVE completed")
        else:
            if target.name == sel.name:
                await self._announce()
            self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}COPY completed", code)

    async def cmd_move(self, cmd: Command) -> None:
        await self.cmd_copy(cmd, move=True)

    async def cmd_close(self, cmd: Command) -> None:
        sel = self._sel()
        if not sel.readonly:
            await self._expunge(None, silent=True)
        self.selected = None
        self.saved = []
        self.state = AUTH
        self.ok(cmd.tag, "CLOSE completed")
