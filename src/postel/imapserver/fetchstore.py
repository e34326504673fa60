"""Reading and flagging the selected mailbox's messages: FETCH, streamed from
the message files (RFC 9051 §6.4.5, RFC 7162 CHANGEDSINCE and VANISHED), and
STORE (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE)."""

from __future__ import annotations

import functools

from postel.imapserver import fetchpage, training
from postel.imapserver.announce import Announcing
from postel.imapserver.command import Command
from postel.imapserver.fetch import FileRange
from postel.imapserver.fetchatt import FetchAtt
from postel.imapserver.seqset import format_uids
from postel.imapserver.vanished import format_ranges, superset
from postel.store.errors import InvalidFlag
from postel.store.names import SYSTEM_FLAGS

FETCH_PAGE = 200  # messages per thread hop in FETCH
CHUNK = 256 * 1024


class FetchStoreCommands(Announcing):
    """FETCH and STORE on the selected mailbox."""

    async def cmd_fetch(self, cmd: Command) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        uids = self._resolve(cmd.seqset, cmd.uid)
        atts = cmd.fetch
        since = cmd.changedsince
        if since is not None or any(a.name == "MODSEQ" for a in atts):
            self.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        if since is not None and not any(a.name == "MODSEQ" for a in atts):
            atts = (*atts, FetchAtt("MODSEQ"))  # RFC 7162 §3.1.4.1
        if cmd.vanished:
            assert since is not None
            if not self.qresync:
                self.bad(cmd.tag, "VANISHED needs ENABLE QRESYNC")
                return
            # RFC 7162 §3.2.6: the UIDs of the set expunged since CHANGEDSINCE.
            changes = await self._thread(self._store().changes_since, sel.name, since)
            largest = max(sel.largest_uid, sel.uidnext - 1)
            gone = [u for u in changes.vanished if cmd.seqset.contains(u, largest)]
            if not changes.vanished_complete:
                # §3.2.10 allows a superset: the set's UIDs not in the mailbox.
                ranges = superset(sel.uids, cmd.seqset.bounds(largest), sel.uidnext, gone)
                if ranges:
                    self.send(f"* VANISHED (EARLIER) {format_ranges(ranges)}".encode())
            elif gone:
                self.send(f"* VANISHED (EARLIER) {format_uids(gone)}".encode())
        fetch = fetchpage.Fetch(
            atts,
            with_uid=cmd.uid,
            since=since,
            set_seen=not sel.readonly and any(a.sets_seen for a in atts),
            account=self.account,
            cache=self.cache,
            derived=self.ctx.derived,
        )
        store = self._store()
        read: list[tuple[int, bool | None]] = []  # \Seen set by this FETCH: a verdict
        for i in range(0, len(uids), FETCH_PAGE):
            batch = uids[i : i + FETCH_PAGE]
            page = await self._thread(fetchpage.build, store, sel.name, batch, fetch)
            for msg in page.seen:
                read.append((msg.msgid, training.verdict_for_flags(sel.name, ["\\Seen"])))
                sel.own[msg.uid] = msg.modseq  # announced here, not again
            for uid, items in page.items:
                msn = sel.msn(uid)
                if msn == 0:
                    continue
                self._out.append(b"* %d FETCH " % msn)
                for seg in items:
                    if isinstance(seg, FileRange):
                        await self.flush()
                        await self._stream(seg)
                    else:
                        self._out.append(seg)
                self._out.append(b"\r\n")
            await self.flush()
        await self._learn(read)
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}FETCH completed")

    async def _stream(self, seg: FileRange) -> None:
        with seg.source() as f:
            f.seek(seg.start)
            left = seg.end - seg.start
            while left:
                data = await self._thread(f.read, min(CHUNK, left))
                if not data:  # cannot happen to an immutable file; keep the framing
                    data = b" " * left
                self.writer.write(data)
                left -= len(data)
                await self.flush()

    async def cmd_store(self, cmd: Command) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        if sel.readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        uids = self._resolve(cmd.seqset, cmd.uid)
        system = {f.lower(): f for f in SYSTEM_FLAGS}
        flags = set()
        for f in cmd.flags:
            if f.lower() == "\\recent":
                continue
            if f.startswith("\\") and f.lower() not in system:
                raise InvalidFlag(f"unknown system flag {f}")
            flags.add(system.get(f.lower(), f))  # \SEEN is \Seen
        store = self._store()
        mode = {"+": "add", "-": "remove"}.get(cmd.store_mode, "replace")
        if cmd.unchangedsince is not None:
            self.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        # One transaction, one modseq for the whole set (store.store_flags).
        result = await self._thread(
            functools.partial(
                store.store_flags, sel.name, uids, flags, mode, unchangedsince=cmd.unchangedsince
            )
        )
        # The junk filter learns from the flags set (training.py): on the
        # messages this STORE changed, which carry its modseq.
        if mode != "remove" and result.modseq:
            changed = [m.msgid for m in result.messages if m.modseq == result.modseq]
            verdict = training.verdict_for_flags(sel.name, flags, len(changed))
            if verdict is not None:
                await self._learn([(msgid, verdict) for msgid in changed])
        for msg in result.messages:
            msn = sel.msn(msg.uid)
            if not msn:
                continue
            sel.own[msg.uid] = msg.modseq
            if not cmd.silent:
                self._fetch_flags(msn, msg, with_uid=cmd.uid)
            elif self.condstore and result.modseq and msg.modseq == result.modseq:
                # RFC 7162 §3.1.3: MODSEQ of updated messages even with .SILENT
                self._fetch_flags(msn, msg, with_uid=cmd.uid, flags=False)
        if result.modified:
            numbers = result.modified if cmd.uid else sorted(sel.msn(u) for u in result.modified)
            self.ok(
                cmd.tag,
                "conditional STORE failed for some messages",
                f"MODIFIED {format_uids([n for n in numbers if n])}",
            )
            return
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}STORE completed")
