"""Entering and leaving a mailbox: SELECT and EXAMINE with CONDSTORE and
QRESYNC (RFC 9051 §6.3.2, RFC 7162 §3.2.5), and UNSELECT (RFC 3691)."""

from __future__ import annotations

from postel.imapserver.announce import Announcing
from postel.imapserver.command import Command, QResync
from postel.imapserver.selected import load
from postel.imapserver.seqset import format_uids
from postel.imapserver.sessionbase import AUTH, SELECTED
from postel.imapserver.vanished import format_ranges, superset

PERMANENT_FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"
SYSTEM_FLAG_LIST = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"


class SelectCommands(Announcing):
    """Selecting a mailbox and leaving it."""

    async def cmd_select(self, cmd: Command, readonly: bool = False) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if cmd.qresync is not None and not self.qresync:
            self.bad(cmd.tag, "QRESYNC parameter without ENABLE QRESYNC")  # RFC 7162 §3.2.5
            return
        if cmd.condstore or cmd.qresync is not None:
            self.condstore = True
        self.saved = []  # RFC 5182 §2.1: empty in a newly selected mailbox
        if self.selected is not None:
            self.selected = None
            self.state = AUTH
            if self.rev2 or self.qresync:  # RFC 7162 §3.2.11
                self.send(b"* OK [CLOSED] previous mailbox closed")
        sel = await self._thread(load, self._store(), name, readonly)
        self.selected = sel
        self.state = SELECTED
        self.send(b"* FLAGS " + SYSTEM_FLAG_LIST)
        self.send(f"* {sel.exists} EXISTS".encode())
        if not self.rev2:
            self.send(b"* 0 RECENT")
        else:
            self.send(b'* LIST () "/" ' + self.mailbox_out(sel.name))
        perm = b"()" if readonly else PERMANENT_FLAGS
        self.send(b"* OK [PERMANENTFLAGS " + perm + b"] flags that can be set")
        self.send(f"* OK [UIDVALIDITY {sel.uidvalidity}] UIDs valid".encode())
        self.send(f"* OK [UIDNEXT {sel.uidnext}] predicted next UID".encode())
        # RFC 7162 §3.1.2.1: always when CONDSTORE is advertised (1 at least).
        self.send(f"* OK [HIGHESTMODSEQ {max(sel.highestmodseq, 1)}] modseq".encode())
        if cmd.qresync is not None and cmd.qresync.uidvalidity == sel.uidvalidity:
            await self._qresync(cmd.qresync)
        code = "READ-ONLY" if readonly else "READ-WRITE"
        self.ok(cmd.tag, f"{cmd.name} completed", code)

    async def cmd_examine(self, cmd: Command) -> None:
        await self.cmd_select(cmd, readonly=True)

    async def _qresync(self, q: QResync) -> None:
        """What changed since the client's modseq: VANISHED (EARLIER) and FETCH
        (UID FLAGS MODSEQ) (RFC 7162 §3.2.5), limited to its known UIDs."""
        sel = self._sel()
        changes = await self._thread(self._store().changes_since, sel.name, q.modseq)
        largest = sel.largest_uid
        vanished = changes.vanished
        if q.known_uids is not None:
            vanished = [u for u in vanished if q.known_uids.contains(u, largest)]
        if not changes.vanished_complete:
            # §3.2.5.2: removals that old are no longer kept; every known UID
            # (or every UID before UIDNEXT) not in the mailbox now.
            bounds = (
                [(1, sel.uidnext - 1)] if q.known_uids is None else q.known_uids.bounds(largest)
            )
            text = format_ranges(superset(sel.uids, bounds, sel.uidnext, vanished))
            if text:
                self.send(f"* VANISHED (EARLIER) {text}".encode())
        elif vanished:
            self.send(f"* VANISHED (EARLIER) {format_uids(vanished)}".encode())
        for msg in changes.changed:
            msn = sel.msn(msg.uid)
            if msn and (q.known_uids is None or q.known_uids.contains(msg.uid, largest)):
                self._fetch_flags(msn, msg, with_uid=True)

    async def cmd_unselect(self, cmd: Command) -> None:
        self.selected = None
        self.saved = []
        self.state = AUTH
        self.ok(cmd.tag, "UNSELECT completed")
