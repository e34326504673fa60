"""Telling a session about changes made elsewhere (RFC 9051 §7.4, RFC 7162
§3.2.10): NOOP, CHECK and IDLE, and the untagged responses they and
other commands send."""

from __future__ import annotations

import asyncio

from postel.imapserver import encode
from postel.imapserver.command import Command
from postel.imapserver.fetch import flags_of
from postel.imapserver.reader import LineTooLong, read_line
from postel.imapserver.selected import refresh
from postel.imapserver.seqset import format_uids
from postel.imapserver.sessionbase import SessionBase, SessionClosed
from postel.store import Message
from postel.store.message import FlagState


class Announcing(SessionBase):
    """Changes made elsewhere, announced between commands and while idling."""

    async def cmd_noop(self, cmd: Command) -> None:
        await self._announce()
        self.ok(cmd.tag, "NOOP completed")

    async def cmd_check(self, cmd: Command) -> None:
        await self._announce()
        self.ok(cmd.tag, "CHECK completed")

    async def cmd_idle(self, cmd: Command) -> None:
        self.send(b"+ idling")
        await self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ctx.settings.idle_timeout
        reading = asyncio.ensure_future(read_line(self.reader, self.limits.max_line))
        try:
            while True:
                if self.selected is not None:
                    await self._announce()
                    await self.flush()
                left = deadline - loop.time()
                if left <= 0:
                    self.send(b"* BYE [UNAVAILABLE] IDLE for too long")
                    await self.flush()
                    raise SessionClosed
                # Wake when a change to the account is committed (or, without a
                # change feed, every recheck_interval).
                assert self.watch is not None
                waiting = asyncio.ensure_future(self.watch.wait(left))
                done, _ = await asyncio.wait(
                    {reading, waiting}, return_when=asyncio.FIRST_COMPLETED
                )
                if reading in done:
                    waiting.cancel()
                    break
        except BaseException:
            reading.cancel()
            raise
        try:
            line = reading.result()
        except LineTooLong:
            self.bad(cmd.tag, "expected DONE")
            return
        if line.strip().upper() != b"DONE":
            self.bad(cmd.tag, "expected DONE")
            return
        self.ok(cmd.tag, "IDLE terminated")

    async def _announce(self) -> None:
        """Untagged EXPUNGE (VANISHED with QRESYNC, RFC 7162 §3.2.10), EXISTS
        and FETCH (FLAGS) for changes made elsewhere (RFC 9051 §7.4); not after
        FETCH, STORE and SEARCH, whose sequence numbers must stay."""
        sel = self.selected
        if sel is None:
            return
        delta = await self._thread(refresh, self._store(), sel)
        if self.qresync:
            if delta.vanished:
                self.send(f"* VANISHED {format_uids(delta.vanished)}".encode())
        else:
            for msn in delta.expunged:
                self.send(f"* {msn} EXPUNGE".encode())
        if delta.exists is not None:
            self.send(f"* {delta.exists} EXISTS".encode())
        for msn, msg in delta.flags:
            self._fetch_flags(msn, msg, with_uid=False)

    def _fetch_flags(
        self, msn: int, msg: Message | FlagState, *, with_uid: bool, flags: bool = True
    ) -> None:
        """* n FETCH (UID u FLAGS (...) MODSEQ (m)): the flags of a message, with
        its modseq once CONDSTORE is on (RFC 7162 §3.1.4) and its UID when asked
        or with QRESYNC (§3.2.4)."""
        items = []
        if with_uid or self.qresync:
            items.append(b"UID %d" % msg.uid)
        if flags:
            items.append(b"FLAGS " + encode.flag_list(flags_of(msg)))
        if self.condstore:
            items.append(b"MODSEQ (%d)" % msg.modseq)
        self.send(b"* %d FETCH (" % msn + b" ".join(items) + b")")
