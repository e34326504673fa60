"""SEARCH in the selected mailbox (RFC 9051 §6.4.4), with ESEARCH results, the
saved result (RFC 5182) and MODSEQ (RFC 7162 §3.1.5)."""

from __future__ import annotations

import functools

from postel.imapserver import search as searching
from postel.imapserver import searchres
from postel.imapserver.command import Command
from postel.imapserver.searchkeys import uses_modseq
from postel.imapserver.seqset import format_uids
from postel.imapserver.sessionbase import SessionBase
from postel.imapserver.storeapi import iter_messages


class SearchCommand(SessionBase):
    """SEARCH on the selected mailbox."""

    async def cmd_search(self, cmd: Command) -> None:
        assert cmd.search is not None
        sel = self._sel()
        store = self._store()
        key = cmd.search.key
        largest_msn, largest_uid = sel.exists, sel.largest_uid
        returns = cmd.search.returns
        if self.utf8_accept and cmd.search.charset:
            # RFC 6855 §3: no CHARSET once UTF8=ACCEPT is enabled.
            self.bad(cmd.tag, "SEARCH CHARSET after ENABLE UTF8=ACCEPT")
            return
        if searchres.saves(returns):
            self.saved = []  # RFC 5182 §2.1: empty if this SEARCH fails

        def run() -> list[tuple[int, int, int]]:
            hits = []
            for msg in iter_messages(store, sel.name):
                msn = sel.msn(msg.uid)
                if msn == 0:
                    continue
                if searching.matches(
                    key,
                    msg,
                    msn,
                    largest_msn,
                    largest_uid,
                    functools.partial(store.open_message, msg.msgid),
                ):
                    hits.append((msn, msg.uid, msg.modseq))
            return hits

        hits = await self._thread(run)
        numbers = [uid if cmd.uid else msn for msn, uid, _ in hits]
        # RFC 7162 §3.1.5: with MODSEQ, the highest modseq of the matches.
        modseq = ""
        if uses_modseq(key):
            self.condstore = True
            if hits:
                modseq = str(max(m for _, _, m in hits))
        if returns is not None and searchres.saves(returns):
            self.saved = searchres.to_save(returns, [uid for _, uid, _ in hits])
        if searchres.only_saves(returns):
            pass  # RFC 5182 §2.4: no ESEARCH response
        elif returns is None and not self.rev2:
            line = "* SEARCH " + " ".join(map(str, numbers))
            if modseq:
                line += f" (MODSEQ {modseq})"
            self.send(line.rstrip().encode())
        else:
            opts = returns or ("ALL",)
            parts = [f'* ESEARCH (TAG "{cmd.tag}")']
            if cmd.uid:
                parts.append("UID")
            if numbers:
                if "MIN" in opts:
                    parts.append(f"MIN {min(numbers)}")
                if "MAX" in opts:
                    parts.append(f"MAX {max(numbers)}")
                if "ALL" in opts:
                    parts.append(f"ALL {format_uids(sorted(numbers))}")
            if "COUNT" in opts:
                parts.append(f"COUNT {len(numbers)}")
            if modseq:
                parts.append(f"MODSEQ {modseq}")
            self.send(" ".join(parts).encode())
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}SEARCH completed")
