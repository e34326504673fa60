"""The account's mailboxes as a hierarchy: CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE, NAMESPACE, LIST and LSUB (RFC 5258, RFC 5819) and STATUS
(RFC 9051 §6.3)."""

from __future__ import annotations

import functools

from postel.imapserver.command import Command
from postel.imapserver.listing import list_entries, list_options, lsub_entries
from postel.imapserver.sessionbase import AUTH, SessionBase
from postel.imapserver.storeapi import iter_messages
from postel.store import MailboxInfo
from postel.store.errors import SpecialUseTaken, UnsupportedSpecialUse
from postel.store.names import normalize_mailbox


class MailboxCommands(SessionBase):
    """Mailboxes by name: their hierarchy, subscriptions and status."""

    async def cmd_create(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox).rstrip("/")
        if name.upper() == "INBOX":
            self.no(cmd.tag, "INBOX exists", "ALREADYEXISTS")
            return
        if len(cmd.flags) > 1:  # RFC 6154 §3: NO [USEATTR] for what cannot be
            self.no(cmd.tag, "one special use per mailbox", "USEATTR")
            return
        use = cmd.flags[0] if cmd.flags else ""
        try:
            create = functools.partial(self._store().create_mailbox, special_use=use)
            await self._thread(create, name)
        except (UnsupportedSpecialUse, SpecialUseTaken) as exc:
            self.no(cmd.tag, str(exc), "USEATTR")
            return
        self.ok(cmd.tag, "CREATE completed")

    async def cmd_delete(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if name.upper() == "INBOX":
            self.no(cmd.tag, "the INBOX cannot be deleted", "CANNOT")
            return
        info = await self._thread(self._store().mailbox, name)
        if self.selected is not None and info.name == self.selected.name:
            self.selected = None
            self.state = AUTH
        await self._thread(self._store().delete_mailbox, info.name)
        self.ok(cmd.tag, "DELETE completed")

    async def cmd_rename(self, cmd: Command) -> None:
        old, new = self.mailbox_in(cmd.mailbox), self.mailbox_in(cmd.mailbox2)
        if old.upper() == "INBOX":
            self.no(cmd.tag, "renaming the INBOX is not supported", "CANNOT")
            return
        info = await self._thread(self._store().rename_mailbox, old, new)
        sel, old = self.selected, normalize_mailbox(old)
        if sel is not None and (sel.name == old or sel.name.startswith(old + "/")):
            sel.name = info.name + sel.name[len(old) :]  # selected, it goes on renamed
        self.ok(cmd.tag, "RENAME completed")

    async def cmd_subscribe(self, cmd: Command) -> None:
        # RFC 9051 §6.3.9: a name without a mailbox may be subscribed too.
        await self._thread(self._store().subscribe, self.mailbox_in(cmd.mailbox))
        self.ok(cmd.tag, "SUBSCRIBE completed")

    async def cmd_unsubscribe(self, cmd: Command) -> None:
        # RFC 9051 §6.3.10: OK also when the name was not subscribed.
        await self._thread(self._store().unsubscribe, self.mailbox_in(cmd.mailbox))
        self.ok(cmd.tag, "UNSUBSCRIBE completed")

    async def cmd_namespace(self, cmd: Command) -> None:
        self.send(b'* NAMESPACE (("" "/")) NIL NIL')
        self.ok(cmd.tag, "NAMESPACE completed")

    async def cmd_list(self, cmd: Command) -> None:
        reference = self.mailbox_in(cmd.mailbox)
        patterns = [self.mailbox_in(p) for p in cmd.patterns]
        kind = cmd.name
        if kind == "LIST" and patterns == [""] and not cmd.items:
            # RFC 9051 §6.3.9: the hierarchy delimiter and root.
            self.send(b'* LIST (\\Noselect) "/" ""')
            self.ok(cmd.tag, "LIST completed")
            return
        options = list_options(cmd.items, cmd.returns, patterns=len(patterns), rev2=self.rev2)
        store = self._store()
        infos = await self._thread(store.mailboxes)
        by_name = {i.name: i for i in infos}
        subscriptions = await self._thread(store.subscriptions)
        if kind == "LSUB":
            entries = lsub_entries([i.name for i in infos], subscriptions, reference, patterns[0])
        else:
            entries = list_entries(
                {i.name: i.special_use for i in infos},
                reference,
                patterns,
                rev2=self.rev2,
                subscriptions=subscriptions,
                options=options,
            )
        for e in entries:
            line = f'* {kind} ({" ".join(e.attributes)}) "/" '.encode()
            line += self.mailbox_out(e.store_name or e.name)
            self.send(line + e.extended_data().encode())
            if options.status and e.exists:  # RFC 5819 §2: selectable mailboxes only
                await self._status(e.store_name, options.status, by_name.get(e.store_name))
        self.ok(cmd.tag, f"{kind} completed")

    cmd_lsub = cmd_list

    async def cmd_status(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        await self._status(name, cmd.items)
        self.ok(cmd.tag, "STATUS completed")

    async def _status(
        self, name: str, items: tuple[str, ...], info: MailboxInfo | None = None
    ) -> None:
        """* STATUS for *name*, from *info* when the caller has read it already."""
        store = self._store()
        if info is None:
            info = await self._thread(store.mailbox, name)
        values = []
        for item in items:
            if item == "MESSAGES":
                value = info.total
            elif item == "UIDNEXT":
                value = info.uidnext
            elif item == "UIDVALIDITY":
                value = info.uidvalidity
            elif item == "UNSEEN":
                value = info.unseen
            elif item == "SIZE":
                value = info.size
            elif item == "RECENT":
                value = 0
            elif item == "HIGHESTMODSEQ":  # RFC 7162 §3.1.10
                self.condstore = True
                value = max(info.highestmodseq, 1)
            else:  # DELETED: counted from the index, page by page

                def deleted() -> int:
                    return sum("\\Deleted" in m.flags for m in iter_messages(store, info.name))

                value = await self._thread(deleted)
            values.append(f"{item} {value}")
        self.send(b"* STATUS " + self.mailbox_out(info.name) + f" ({' '.join(values)})".encode())
