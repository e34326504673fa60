"""New and changed messages of an account in PostgreSQL (part of PgAccount):
delivery with its UID and modseq taken in the transaction, copy, move,
removal, flags. Bodies are stored once per SHA-256; a copy names the same one,
and one no message names any more is deleted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from postel.pg import fulltext
from postel.pg.bodies import drop_unused_bodies, left_in_object_store, store_body
from postel.pg.changetx import ChangeTx, change_tx
from postel.pg.mailboxes import insert_mailbox
from postel.pg.newmessage import insert_message, prepare
from postel.pg.objectput import put_body
from postel.pg.quota import check_room
from postel.pg.reading import Reading
from postel.pg.rows import MESSAGE_COLUMNS, col_bytes, col_int, col_names, to_message
from postel.pg.threading import thread_for
from postel.store.errors import InvalidFlag, MailboxNotFound
from postel.store.message import FlagsStored, FlagState, Message
from postel.store.names import normalize_mailbox, split_flags, store_flags_request
from postel.store.search import fts_row

log = logging.getLogger("postel.pg")


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted(values)


class Messages(Reading):
    """Message changes, each in one change transaction."""

    async def deliver(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        create: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message:
        """Store *data* as a new message of *mailbox*: body, UID, modseq, thread
        key and full-text index in one transaction (*create*: make the mailbox
        if it does not exist)."""
        mailbox = normalize_mailbox(mailbox)
        system, kws = split_flags(flags)
        more, kws2 = split_flags(keywords)
        if more:
            raise InvalidFlag(f"system flags given as keywords: {sorted(more)}")
        keywords = kws | kws2
        # Parsing, hashing and the body's text are CPU work: not on the event loop.
        prepared = await asyncio.to_thread(prepare, data, self.name)
        when = received if received is not None else datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if self.objects is not None:
            # The object before the row that names it: never a row (nor an
            # SMTP 250) without its content; a row-less object is harmless.
            # Recorded first, so that the object sweep leaves it alone.
            await put_body(self.pool, self.objects, prepared.digest, data)
        quota = self.quota()
        # With a quota, the path below: its room is checked under the account's lock.
        done = (
            None
            if quota
            else await insert_message(
                self.pool,
                self.name,
                mailbox,
                data,
                prepared,
                flags=[*system, *keywords],
                received=when,
                requiretls=requiretls,
                inline=self.objects is None,
            )
        )
        if done is not None:
            return done
        # The mailbox does not exist (made here, *create*, or refused), or the
        # account has a quota.
        env, mime, head, digest = prepared.env, prepared.mime, prepared.head, prepared.digest
        text = prepared.text
        async with change_tx(self.pool, self.id, self.name) as tx:
            # The account's lock first, as every writer of the account: a removal
            # in it (account lock, then the body's row) cannot deadlock with us.
            modseq = await tx.modseq()
            await check_room(tx, quota, len(data))
            await store_body(tx.conn, digest, data, inline=self.objects is None)
            unseen = 0 if "\\Seen" in system else 1
            row = await self._allocate(tx, mailbox, len(data), unseen, modseq, create=create)
            mailbox_id, uid = row
            thread, base = await thread_for(tx.conn, self.id, env, when)
            cur = await tx.conn.execute(
                "INSERT INTO message (mailbox_id, uid, modseq, flags, keywords, size, received, "
                "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
                "has_attachments, body, mime, head, thread_id, thread_subject) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s) "
                f"RETURNING {MESSAGE_COLUMNS.replace('m.', '')}",
                (
                    mailbox_id,
                    uid,
                    modseq,
                    _sorted(system),
                    _sorted(keywords),
                    len(data),
                    when,
                    requiretls,
                    env.subject,
                    env.from_,
                    env.to,
                    env.cc,
                    env.date,
                    env.message_id,
                    env.in_reply_to,
                    env.has_attachments,
                    digest,
                    mime,
                    head,
                    thread or 0,
                    base,
                ),
            )
            msg = await cur.fetchone()
            assert msg is not None
            msgid = col_int(msg[0])
            if thread is None:  # a thread of its own: its key is its id
                await tx.conn.execute("UPDATE message SET thread_id = id WHERE id = %s", (msgid,))
            await tx.conn.execute(
                "INSERT INTO message_text (message_id, fts) VALUES (%s, %s::tsvector)",
                (
                    msgid,
                    fulltext.document(
                        self.id, *fts_row(env.subject, env.from_, env.to, env.cc, text)
                    ),
                ),
            )
        return to_message(msg, mailbox)

    async def _allocate(
        self, tx: ChangeTx, mailbox: str, size: int, unseen: int, modseq: int, *, create: bool
    ) -> tuple[int, int]:
        """(mailbox id, UID) for one new message: the mailbox's counters move in
        the same UPDATE that hands out the UID."""
        for _ in range(2):
            cur = await tx.conn.execute(
                "UPDATE mailbox SET uidnext = uidnext + 1, highestmodseq = %s, "
                "total = total + 1, unseen = unseen + %s, size = size + %s "
                "WHERE account_id = %s AND name = %s RETURNING id, uidnext - 1",
                (modseq, unseen, size, self.id, mailbox),
            )
            row = await cur.fetchone()
            if row is not None:
                mailbox_id = col_int(row[0])
                tx.touched[mailbox_id] = mailbox
                return mailbox_id, col_int(row[1])
            if not create:
                break
            await insert_mailbox(tx, mailbox)
        raise MailboxNotFound(f"account {self.name!r}: no mailbox {mailbox!r}")

    async def append(
        self, mailbox: str, data: bytes, flags: Iterable[str], received: datetime | None
    ) -> Message:
        return await self.deliver(mailbox, data, flags=flags, received=received)

    async def copy(self, msgid: int, mailbox: str) -> Message:
        """A new message in *mailbox* naming the same body, with the same flags."""
        mailbox = normalize_mailbox(mailbox)
        async with change_tx(self.pool, self.id, self.name) as tx:
            modseq = await tx.modseq()
            src = await self._message_row(tx.conn, msgid)
            size = col_int(src[4])
            await check_room(tx, self.quota(), size)
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            mailbox_id, uid = await self._allocate(tx, mailbox, size, unseen, modseq, create=False)
            cols = (
                "flags, keywords, size, received, requiretls, subject, from_addr, to_addr, cc, "
                "date, message_id, in_reply_to, has_attachments, thread_id, thread_subject, "
                "body, mime, head"
            )
            cur = await tx.conn.execute(
                f"INSERT INTO message (mailbox_id, uid, modseq, {cols}) "
                f"SELECT %s, %s, %s, {cols} FROM message WHERE id = %s "
                f"RETURNING {MESSAGE_COLUMNS.replace('m.', '')}",
                (mailbox_id, uid, modseq, msgid),
            )
            row = await cur.fetchone()
            assert row is not None
            await tx.conn.execute(
                "INSERT INTO message_text (message_id, fts) "
                "SELECT %s, fts FROM message_text WHERE message_id = %s",
                (row[0], msgid),
            )
        return to_message(row, mailbox)

    async def move(self, msgid: int, mailbox: str) -> Message:
        """Move to another existing mailbox with a new UID there (RFC 6851)."""
        mailbox = normalize_mailbox(mailbox)
        async with change_tx(self.pool, self.id, self.name) as tx:
            modseq = await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            source_id, source = col_int(src[17]), str(src[18])
            if source == mailbox:
                return to_message(src, source)
            size = col_int(src[4])
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            target_id, uid = await self._allocate(tx, mailbox, size, unseen, modseq, create=False)
            await tx.removed(source_id, source, [col_int(src[1])], keep=self.vanished_keep)
            await tx.conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - %s, size = size - %s "
                "WHERE id = %s",
                (unseen, size, source_id),
            )
            cur = await tx.conn.execute(
                "UPDATE message m SET mailbox_id = %s, uid = %s, modseq = %s WHERE id = %s "
                f"RETURNING {MESSAGE_COLUMNS}",
                (target_id, uid, modseq, msgid),
            )
            row = await cur.fetchone()
            assert row is not None
        return to_message(row, mailbox)

    async def remove(self, msgid: int) -> None:
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            source_id, source = col_int(src[17]), str(src[18])
            size = col_int(src[4])
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            await tx.conn.execute("DELETE FROM message WHERE id = %s", (msgid,))
            await tx.removed(source_id, source, [col_int(src[1])], keep=self.vanished_keep)
            await tx.conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - %s, size = size - %s "
                "WHERE id = %s",
                (unseen, size, source_id),
            )
            dropped = await drop_unused_bodies(tx.conn, [col_bytes(src[19])])
        left_in_object_store(dropped)

    async def set_flags(self, msgid: int, add: Iterable[str], remove: Iterable[str]) -> Message:
        """Add and remove flags and keywords; removing wins over adding."""
        add_flags, add_kw = split_flags(add)
        remove_flags, remove_kw = split_flags(remove)
        try:
            await self._set_flags(msgid, add_flags | add_kw, remove_flags | remove_kw)
        except _NoChange as unchanged:
            assert unchanged.message is not None
            return unchanged.message
        return await self.get(msgid)

    async def _set_flags(self, msgid: int, add: frozenset[str], remove: frozenset[str]) -> None:
        add_flags, add_kw = split_flags(add)
        remove_flags, remove_kw = split_flags(remove)
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            old = to_message(src, str(src[18]))
            flags = (old.flags | add_flags) - remove_flags
            keywords = (old.keywords | add_kw) - remove_kw
            if (flags, keywords) == (old.flags, old.keywords):
                # No change: the transaction rolls back, the modseq is not used.
                raise _NoChange(old)
            modseq = await tx.touch(col_int(src[17]), old.mailbox)
            await tx.conn.execute(
                "UPDATE message SET flags = %s, keywords = %s, modseq = %s WHERE id = %s",
                (_sorted(flags), _sorted(keywords), modseq, msgid),
            )
            delta = ("\\Seen" in old.flags) - ("\\Seen" in flags)
            if delta:
                await tx.conn.execute(
                    "UPDATE mailbox SET unseen = unseen + %s WHERE id = %s", (delta, src[17])
                )

    async def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        """One transaction and one modseq for a whole STORE; unchanged messages
        are not written, those changed after *unchangedsince* are left alone and
        reported (RFC 7162 §3.1.3). UIDs not in the mailbox are ignored."""
        system, keywords, wanted = store_flags_request(uids, flags, mode)
        if not wanted:
            return FlagsStored([], [])
        mailbox = normalize_mailbox(mailbox)
        out: list[FlagState] = []
        modified: list[int] = []
        pending: list[FlagState] = []
        unseen = 0
        try:
            async with change_tx(self.pool, self.id, self.name) as tx:
                await tx.modseq()  # the account's lock before reading the flags
                box = await self._mailbox_row(tx.conn, mailbox)
                mailbox_id = col_int(box[1])
                cur = await tx.conn.execute(
                    "SELECT id, uid, flags, keywords, modseq FROM message "
                    "WHERE mailbox_id = %s AND uid = ANY(%s) ORDER BY uid",
                    (mailbox_id, wanted),
                )
                for row in await cur.fetchall():
                    msgid, uid, old_modseq = col_int(row[0]), col_int(row[1]), col_int(row[4])
                    old = col_names(row[2])
                    old_kw = col_names(row[3])
                    if unchangedsince is not None and old_modseq > unchangedsince:
                        modified.append(uid)
                        continue
                    if mode == "add":
                        new, new_kw = old | system, old_kw | keywords
                    elif mode == "remove":
                        new, new_kw = old - system, old_kw - keywords
                    else:
                        new, new_kw = system, keywords
                    if new == old and new_kw == old_kw:
                        out.append(FlagState(msgid, uid, old, old_kw, old_modseq))
                        continue
                    unseen += ("\\Seen" in old) - ("\\Seen" in new)
                    pending.append(FlagState(msgid, uid, new, new_kw, 0))
                if not pending:
                    raise _NoChange(None)
                modseq = await tx.touch(mailbox_id, mailbox)
                wcur = tx.conn.cursor()
                await wcur.executemany(
                    "UPDATE message SET flags = %s, keywords = %s, modseq = %s WHERE id = %s",
                    [(_sorted(f.flags), _sorted(f.keywords), modseq, f.msgid) for f in pending],
                )
                if unseen:
                    await tx.conn.execute(
                        "UPDATE mailbox SET unseen = unseen + %s WHERE id = %s",
                        (unseen, mailbox_id),
                    )
        except _NoChange:
            out.sort(key=lambda m: m.uid)
            return FlagsStored(out, modified, 0)
        out.extend(FlagState(f.msgid, f.uid, f.flags, f.keywords, modseq) for f in pending)
        out.sort(key=lambda m: m.uid)
        return FlagsStored(out, modified, modseq)


class _NoChange(Exception):
    """Leaves a change transaction without writing (rolled back, no modseq used)."""

    def __init__(self, message: Message | None) -> None:
        super().__init__("no change")
        self.message = message
