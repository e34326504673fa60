"""An account's mailboxes: list, create, rename, delete, and its subscriptions
(part of AccountStore)."""

from __future__ import annotations

from postel.store.accountbase import AccountBase
from postel.store.errors import MailboxExists, MailboxNotFound, SpecialUseTaken, StoreError
from postel.store.message import MailboxInfo
from postel.store.names import (
    DEFAULT_MAILBOXES,
    INBOX,
    SEPARATOR,
    check_special_use,
    normalize_mailbox,
)


class Mailboxes(AccountBase):
    """Mailboxes of one account (part of AccountStore)."""

    # -- mailboxes --------------------------------------------------------

    def mailboxes(self) -> list[MailboxInfo]:
        """All mailboxes: the default ones first, then the others by name."""
        with self._lock:
            self._check_open()
            rows = self._conn.execute("SELECT * FROM mailbox").fetchall()
        infos = [
            MailboxInfo(
                name=r["name"],
                id=int(r["id"]),
                uidvalidity=int(r["uidvalidity"]),
                uidnext=int(r["uidnext"]),
                total=int(r["total"]),
                unseen=int(r["unseen"]),
                size=int(r["size"]),
                highestmodseq=int(r["highestmodseq"]),
                special_use=str(r["special_use"]),
            )
            for r in rows
        ]
        rank = {name: i for i, name in enumerate(DEFAULT_MAILBOXES)}
        return sorted(infos, key=lambda m: (rank.get(m.name, len(rank)), m.name))

    def mailbox(self, name: str) -> MailboxInfo:
        name = normalize_mailbox(name)
        for info in self.mailboxes():
            if info.name == name:
                return info
        raise MailboxNotFound(f"account {self.name!r}: no mailbox {name!r}")

    def create_mailbox(
        self, name: str, *, special_use: str = "", subscribe: bool = False
    ) -> MailboxInfo:
        """Create mailbox *name*, with *special_use* (RFC 6154 §3: one the
        store supports and no other mailbox has) and subscribed if asked."""
        name = normalize_mailbox(name)
        use = check_special_use(special_use) if special_use else ""
        with self._lock:
            self._check_open()
            with self._write():
                if self._mailbox_row(name) is not None:
                    raise MailboxExists(f"account {self.name!r}: mailbox {name!r} exists")
                holder = self._special_use_holder(use) if use else None
                if holder is not None:
                    raise SpecialUseTaken(
                        f"account {self.name!r}: mailbox {holder!r} has special use {use} already"
                    )
                self._insert_mailbox(name, special_use=use, subscribe=subscribe)
        return self.mailbox(name)

    def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        """Rename a mailbox and its children ("old/x" -> "new/x"), keeping
        UIDVALIDITY and UIDs. The Inbox can be neither source nor target."""
        old, new = normalize_mailbox(old), normalize_mailbox(new)
        if INBOX in (old, new):
            raise StoreError(f"account {self.name!r}: the Inbox cannot be renamed or replaced")
        with self._lock:
            self._check_open()
            with self._write():
                if self._mailbox_row(old) is None:
                    raise MailboxNotFound(f"account {self.name!r}: no mailbox {old!r}")
                prefix = old + SEPARATOR
                renames = [(old, new)] + [
                    (r["name"], new + SEPARATOR + r["name"][len(prefix) :])
                    for r in self._conn.execute(
                        "SELECT name FROM mailbox WHERE substr(name, 1, ?) = ?",
                        (len(prefix), prefix),
                    )
                ]
                for _, target in renames:
                    if self._mailbox_row(target) is not None:
                        raise MailboxExists(f"account {self.name!r}: mailbox {target!r} exists")
                for source, target in renames:
                    self._conn.execute(
                        "UPDATE mailbox SET name = ? WHERE name = ?", (target, source)
                    )
                    # The subscription goes with the mailbox (as Dovecot does),
                    # so a client listing subscriptions keeps seeing it.
                    if self._conn.execute(
                        "DELETE FROM subscription WHERE name = ?", (source,)
                    ).rowcount:
                        self._conn.execute(
                            "INSERT OR IGNORE INTO subscription (name) VALUES (?)", (target,)
                        )
                    self._changes().mailbox_renamed(source, target)
        return self.mailbox(new)

    def delete_mailbox(self, name: str) -> int:
        """Delete a mailbox (not the Inbox) with its messages; returns how many
        messages were removed. Child mailboxes stay, and so does a subscription
        to the name (RFC 9051 §6.3.9: never removed unilaterally)."""
        name = normalize_mailbox(name)
        if name == INBOX:
            raise StoreError(f"account {self.name!r}: the Inbox cannot be deleted")
        with self._lock:
            self._check_open()
            with self._write():
                mailbox_id = self._mailbox_id(name, create=False)
                msgids = [
                    int(r[0])
                    for r in self._conn.execute(
                        "SELECT id FROM message WHERE mailbox_id = ?", (mailbox_id,)
                    )
                ]
                self._conn.execute("DELETE FROM message WHERE mailbox_id = ?", (mailbox_id,))
                self._conn.execute("DELETE FROM mailbox WHERE id = ?", (mailbox_id,))
                self._changes().mailbox_deleted(mailbox_id, name)
            self._unlink_files(msgids)
        return len(msgids)

    # -- subscriptions (RFC 9051 §6.3.9, §6.3.10) ---------------------------

    def subscriptions(self) -> list[str]:
        """Subscribed names, sorted; some may name no mailbox (any more)."""
        with self._lock:
            self._check_open()
            rows = self._conn.execute("SELECT name FROM subscription ORDER BY name").fetchall()
        return [str(r[0]) for r in rows]

    def subscribe(self, name: str) -> None:
        """Subscribe to *name*, whether or not a mailbox has it; idempotent."""
        name = normalize_mailbox(name)
        with self._lock:
            self._check_open()
            with self._write():
                self._conn.execute("INSERT OR IGNORE INTO subscription (name) VALUES (?)", (name,))

    def unsubscribe(self, name: str) -> None:
        """Remove the subscription to *name*; idempotent (RFC 9051 §6.3.10)."""
        name = normalize_mailbox(name)
        with self._lock:
            self._check_open()
            with self._write():
                self._conn.execute("DELETE FROM subscription WHERE name = ?", (name,))
