"""Whole-account figures and the index's invariants (part of AccountStore)."""

from __future__ import annotations

from postel.store.accountbase import INDEX_DB, AccountBase
from postel.store.changes import highest_modseq
from postel.store.message import StoreStats


class Checks(AccountBase):
    """Statistics and consistency checks of one account (part of AccountStore)."""

    # -- whole account ----------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            self._check_open()
            row = self._conn.execute(
                "SELECT count(*), coalesce(sum(total), 0), coalesce(sum(size), 0) FROM mailbox"
            ).fetchone()
        index_bytes = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                index_bytes += (self.dir / (INDEX_DB + suffix)).stat().st_size
            except FileNotFoundError:
                pass
        return StoreStats(
            messages=int(row[1]),
            message_bytes=int(row[2]),
            index_bytes=index_bytes,
            mailboxes=int(row[0]),
        )

    def check(self) -> list[str]:
        """Invariants of the index: uid < uidnext, mailbox counters match the
        messages, no modseq above its mailbox's HIGHESTMODSEQ or the account's
        counter, the kept removed UIDs as counted (trimmed ones are expected).
        Empty when consistent (used by verifydata)."""
        problems: list[str] = []
        with self._lock:
            self._check_open()
            bad_uid = self._conn.execute(
                "SELECT m.id, m.uid, b.name, b.uidnext FROM message m "
                "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.uid >= b.uidnext"
            ).fetchall()
            modseqs = self._conn.execute(
                "SELECT b.name, b.highestmodseq, "
                "(SELECT max(modseq) FROM message WHERE mailbox_id = b.id), "
                "(SELECT max(modseq) FROM vanished WHERE mailbox_id = b.id), "
                "b.vanished_floor, b.vanished_rows, "
                "(SELECT count(*) FROM vanished WHERE mailbox_id = b.id) FROM mailbox b"
            ).fetchall()
            counter = highest_modseq(self._conn)
            counts = self._conn.execute(
                "SELECT b.name, b.total, b.unseen, b.size, count(m.id) AS n, "
                "coalesce(sum(m.size), 0) AS s, "
                "coalesce(sum(CASE WHEN m.id IS NULL THEN 0 "
                "WHEN instr(' ' || m.flags || ' ', ' \\Seen ') > 0 THEN 0 ELSE 1 END), 0) AS u "
                "FROM mailbox b LEFT JOIN message m ON m.mailbox_id = b.id GROUP BY b.id"
            ).fetchall()
        for r in bad_uid:
            problems.append(
                f"{self.dir}: message {r[0]} in {r[2]!r} has uid {r[1]} >= uidnext {r[3]}"
            )
        for name, highest, messages, vanished, floor, rows, kept in modseqs:
            # RFC 7162 §3.1.1: no change in a mailbox above its HIGHESTMODSEQ;
            # the trimmed floor of removed UIDs is a modseq already given.
            top = max(messages or 0, vanished or 0, floor)
            if top > highest or highest > counter:
                problems.append(
                    f"{self.dir}: mailbox {name!r} HIGHESTMODSEQ {highest} but its changes "
                    f"reach {top} and the account's modseq is {counter}"
                )
            if rows != kept:
                problems.append(
                    f"{self.dir}: mailbox {name!r} counts {rows} removed UIDs but keeps {kept}"
                )
        for r in counts:
            if (r["total"], r["unseen"], r["size"]) != (r["n"], r["u"], r["s"]):
                problems.append(
                    f"{self.dir}: mailbox {r['name']!r} counters total/unseen/size "
                    f"{r['total']}/{r['unseen']}/{r['size']} but messages say "
                    f"{r['n']}/{r['u']}/{r['s']}"
                )
        return problems
