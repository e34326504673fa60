"""Per-database record checks (named in postel.databases).

Each check reads every record with the owning package's own row parsing
where it has one, and returns problems as "<label>: <table> <key>: <what>".
The ``forget_*`` functions remove records from a backup copy whose message
files were deleted while the backup ran, keeping the counters right.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

MAX_PROBLEMS_PER_TABLE = 100


def _each(
    label: str,
    table: str,
    rows: Iterable[sqlite3.Row],
    key: Callable[[sqlite3.Row], object],
    parse: Callable[[sqlite3.Row], object],
) -> list[str]:
    """Apply *parse* to every row; one problem per failing row (capped)."""
    problems: list[str] = []
    failed = 0
    for row in rows:
        try:
            parse(row)
        except Exception as exc:  # any failure to parse is what we report
            failed += 1
            if failed <= MAX_PROBLEMS_PER_TABLE:
                problems.append(f"{label}: {table} {key(row)}: {type(exc).__name__}: {exc}")
    if failed > MAX_PROBLEMS_PER_TABLE:
        problems.append(f"{label}: {table}: {failed - MAX_PROBLEMS_PER_TABLE} more bad rows")
    return problems


def _iso(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field}: not a timestamp: {value!r}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: not an ISO 8601 timestamp: {value!r}") from None


def _json(value: Any, field: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field}: not JSON: {exc}") from None


# -- auth.db ------------------------------------------------------------------


def check_auth(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.store.names import check_account_name
    from postel.store.passwords import SCRYPT_PREFIX

    def parse(r: sqlite3.Row) -> None:
        check_account_name(r["account"])
        if not str(r["scrypt"]).startswith(SCRYPT_PREFIX):
            raise ValueError(f"scrypt: does not start with {SCRYPT_PREFIX!r}")
        for name in ("scram_salt", "scram_stored_key", "scram_server_key"):
            if not isinstance(r[name], bytes) or not r[name]:
                raise ValueError(f"{name}: not a non-empty blob")
        if len(r["scram_stored_key"]) != 32 or len(r["scram_server_key"]) != 32:
            raise ValueError("SCRAM-SHA-256 keys must be 32 bytes")
        if int(r["scram_iterations"]) < 4096:  # RFC 7677 §4
            raise ValueError(f"scram_iterations {r['scram_iterations']} below 4096")
        _iso(r["updated"], "updated")

    rows = conn.execute("SELECT * FROM password ORDER BY account")
    return _each(label, "password", rows, lambda r: repr(r["account"]), parse)


# -- accounts/<name>/index.db -----------------------------------------------------


def check_account(conn: sqlite3.Connection, label: str) -> list[str]:
    """Rows parse, and the invariants of the index hold: uid < uidnext, mailbox
    counters (total, unseen, size = disk usage of the messages) match the messages,
    UIDVALIDITY unique and below the next one to hand out."""
    from postel.store.account import AccountStore
    from postel.store.names import normalize_mailbox, parse_flags
    from postel.store.schema import MESSAGE_COLUMNS

    problems: list[str] = []
    mailboxes = conn.execute("SELECT * FROM mailbox ORDER BY id").fetchall()
    names = {int(r["id"]): str(r["name"]) for r in mailboxes}

    def parse_mailbox(r: sqlite3.Row) -> None:
        if normalize_mailbox(r["name"]) != r["name"]:
            raise ValueError(f"name {r['name']!r} is not in normal form")

    problems += _each(label, "mailbox", mailboxes, lambda r: repr(r["name"]), parse_mailbox)

    def parse_message(r: sqlite3.Row) -> None:
        mailbox = names.get(int(r["mailbox_id"]))
        if mailbox is None:
            raise ValueError(f"mailbox_id {r['mailbox_id']} does not exist")
        AccountStore._to_message(r, mailbox)
        parse_flags(r["flags"])

    rows = conn.execute(f"SELECT {MESSAGE_COLUMNS}, m.mailbox_id FROM message m ORDER BY m.id")
    problems += _each(label, "message", rows, lambda r: r["id"], parse_message)

    def parse_security(r: sqlite3.Row) -> None:
        _iso(r["updated"], "updated")
        for name in ("starttls", "requiretls"):
            if r[name] not in (None, 0, 1):
                raise ValueError(f"{name}: {r[name]!r} is not 0, 1 or NULL")

    rows = conn.execute("SELECT * FROM domain_security ORDER BY domain")
    problems += _each(label, "domain_security", rows, lambda r: repr(r["domain"]), parse_security)

    for r in conn.execute(
        "SELECT m.id, m.uid, b.name, b.uidnext FROM message m "
        "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.uid >= b.uidnext ORDER BY m.id"
    ):
        problems.append(f"{label}: message {r[0]} in {r[2]!r} has uid {r[1]} >= uidnext {r[3]}")
    counts = conn.execute(
        "SELECT b.name, b.total, b.unseen, b.size, count(m.id) AS n, "
        "coalesce(sum(m.size), 0) AS s, "
        "coalesce(sum(CASE WHEN m.id IS NULL THEN 0 "
        "WHEN instr(' ' || m.flags || ' ', ' \\Seen ') > 0 THEN 0 ELSE 1 END), 0) AS u "
        "FROM mailbox b LEFT JOIN message m ON m.mailbox_id = b.id GROUP BY b.id ORDER BY b.id"
    ).fetchall()
    for r in counts:
        if (r["total"], r["unseen"], r["size"]) != (r["n"], r["u"], r["s"]):
            problems.append(
                f"{label}: mailbox {r['name']!r} counters total/unseen/size "
                f"{r['total']}/{r['unseen']}/{r['size']} but its messages say "
                f"{r['n']}/{r['u']}/{r['s']}"
            )
    counted = conn.execute(
        "SELECT 1 FROM pragma_table_info('mailbox') WHERE name = 'vanished_rows'"
    ).fetchone()
    if counted is not None:
        # Removed UIDs are kept up to a number per mailbox (store/changes.py),
        # the oldest trimmed: only the count of those kept must agree.
        for r in conn.execute(
            "SELECT b.name, b.vanished_rows, "
            "(SELECT count(*) FROM vanished WHERE mailbox_id = b.id) FROM mailbox b ORDER BY b.id"
        ):
            if r[1] != r[2]:
                problems.append(
                    f"{label}: mailbox {r[0]!r} counts {r[1]} removed UIDs but keeps {r[2]}"
                )
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_uidvalidity'").fetchone()
    if row is None:
        problems.append(f"{label}: meta: next_uidvalidity missing")
    else:
        nxt = int(row[0])
        seen: dict[int, str] = {}
        for r in mailboxes:
            v = int(r["uidvalidity"])
            if v >= nxt:
                problems.append(
                    f"{label}: mailbox {r['name']!r} uidvalidity {v} >= next_uidvalidity {nxt}"
                )
            if v in seen:
                problems.append(
                    f"{label}: mailboxes {seen[v]!r} and {r['name']!r} share uidvalidity {v}"
                )
            seen[v] = str(r["name"])
    return problems


def forget_account_messages(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    from postel.store.names import parse_flags

    conn.execute("BEGIN IMMEDIATE")
    try:
        for msgid in ids:
            r = conn.execute(
                "SELECT mailbox_id, size, flags FROM message WHERE id = ?", (msgid,)
            ).fetchone()
            if r is None:
                continue
            unseen = 0 if "\\Seen" in parse_flags(r["flags"]) else 1
            conn.execute("DELETE FROM message WHERE id = ?", (msgid,))
            conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - ?, size = size - ? "
                "WHERE id = ?",
                (unseen, r["size"], r["mailbox_id"]),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# -- queue/index.db -----------------------------------------------------------


def check_junk(conn: sqlite3.Connection, label: str) -> list[str]:
    """accounts/<name>/junk.db (postel.junk.db)."""
    problems: list[str] = []
    keys = {r[0] for r in conn.execute("SELECT key FROM meta")}
    for want in ("ham_messages", "spam_messages"):
        if want not in keys:
            problems.append(f"{label}: meta {want}: missing")

    def trained(row: sqlite3.Row) -> None:
        if row["spam"] not in (0, 1):
            raise ValueError(f"spam is {row['spam']!r}, not 0 or 1")
        ids = json.loads(row["identities"])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("identities is not a list of strings")

    def filed(row: sqlite3.Row) -> None:
        from postel.junk.decide import TARGETS

        if row["target"] not in TARGETS:
            raise ValueError(f"unknown target {row['target']!r}")
        dt.datetime.fromisoformat(row["at"])
        reasons = json.loads(row["reasons"])
        if not isinstance(reasons, list):
            raise ValueError("reasons is not a list")

    problems += _each(label, "trained", conn.execute("SELECT * FROM trained"),
                      lambda r: r["key"][:16], trained)  # fmt: skip
    problems += _each(label, "filed", conn.execute("SELECT * FROM filed"), lambda r: r["id"], filed)
    return problems


def check_queue(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.queue.model import Entry, QueuedMessage

    messages: dict[int, QueuedMessage] = {}

    def parse_message(r: sqlite3.Row) -> None:
        msg = QueuedMessage.from_row(r)
        if msg.size < 0:
            raise ValueError(f"size {msg.size} is negative")
        messages[msg.id] = msg

    def parse_entry(r: sqlite3.Row) -> None:
        msg = messages.get(int(r["msg_id"]))
        if msg is None:
            raise ValueError(f"msg_id {r['msg_id']} has no (parsable) message row")
        entry = Entry.from_row(r, msg)
        if "@" not in entry.rcpt:
            raise ValueError(f"rcpt {entry.rcpt!r} is not an address")
        if entry.attempts < 0:
            raise ValueError(f"attempts {entry.attempts} is negative")

    problems = _each(
        label,
        "message",
        conn.execute("SELECT * FROM message ORDER BY id"),
        lambda r: r["id"],
        parse_message,
    )
    problems += _each(
        label,
        "entry",
        conn.execute("SELECT * FROM entry ORDER BY id"),
        lambda r: r["id"],
        parse_entry,
    )
    nxt = conn.execute("SELECT next FROM msgseq WHERE id = 1").fetchone()
    top = conn.execute("SELECT max(id) FROM message").fetchone()[0]
    if nxt is None:
        problems.append(f"{label}: msgseq: row missing")
    elif top is not None and int(top) >= int(nxt[0]):
        problems.append(f"{label}: message id {top} >= msgseq next {nxt[0]}")
    for r in conn.execute(
        "SELECT m.id FROM message m WHERE NOT EXISTS (SELECT 1 FROM entry e WHERE e.msg_id = m.id)"
    ):
        problems.append(f"{label}: message {r[0]} has no recipients left")
    return problems


def forget_queue_messages(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for msgid in ids:
            conn.execute("DELETE FROM entry WHERE msg_id = ?", (msgid,))
            conn.execute("DELETE FROM message WHERE id = ?", (msgid,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# -- mtasts.db, tlsrpt.db, dmarcrpt.db, tlsrptresult.db --------------------------


def check_mtasts(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.mtastsdb import MTASTSDB

    db = MTASTSDB(conn, Path(label))
    rows = conn.execute("SELECT * FROM policy ORDER BY domain")
    return _each(label, "policy", rows, lambda r: repr(r["domain"]), db._row)


def check_tlsrpt(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.tlsrpt.parse import report_from_obj
    from postel.tlsrptdb import TLSRPTDB

    db = TLSRPTDB(conn, Path(label))

    def parse(r: sqlite3.Row) -> None:
        stored = db.get(int(r["id"]))
        assert stored is not None
        report_from_obj(_json(stored.json, "json"))
        _iso(stored.received, "received")
        _iso(stored.start, "start")
        _iso(stored.end, "end")

    rows = conn.execute("SELECT id FROM report ORDER BY id")
    problems = _each(label, "report", rows, lambda r: r["id"], parse)
    for r in conn.execute(
        "SELECT r.id, r.successes, r.failures, coalesce(sum(p.successes), 0), "
        "coalesce(sum(p.failures), 0) FROM report r LEFT JOIN policy p ON p.report = r.id "
        "GROUP BY r.id ORDER BY r.id"
    ):
        if (r[1], r[2]) != (r[3], r[4]):
            problems.append(
                f"{label}: report {r[0]}: successes/failures {r[1]}/{r[2]} but its policies "
                f"sum to {r[3]}/{r[4]}"
            )
    return problems


def check_dmarc(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.dmarcdb import DMARCDB

    db = DMARCDB(conn, Path(label))

    def parse(r: sqlite3.Row) -> None:
        stored = db.get(int(r["id"]))
        assert stored is not None
        if not isinstance(_json(stored.json, "json"), dict):
            raise ValueError("json: not an object")
        _iso(stored.received, "received")
        if stored.begin > stored.end:
            raise ValueError(f"begin {stored.begin} after end {stored.end}")

    rows = conn.execute("SELECT id FROM report ORDER BY id")
    problems = _each(label, "report", rows, lambda r: r["id"], parse)
    for r in conn.execute(
        "SELECT r.id, r.record_count, count(c.idx) FROM report r "
        "LEFT JOIN record c ON c.report = r.id GROUP BY r.id ORDER BY r.id"
    ):
        if r[1] != r[2]:
            problems.append(f"{label}: report {r[0]}: record_count {r[1]} but {r[2]} records")
    return problems


def check_tlsrptresult(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.tlsrptresultdb.db import ResultDB

    db = ResultDB(conn, Path(label))

    def parse_result(r: sqlite3.Row) -> None:
        db._row(r)

    def parse_suppression(r: sqlite3.Row) -> None:
        _iso(r["until"], "until")
        _iso(r["created"], "created")

    def parse_bounce(r: sqlite3.Row) -> None:
        _iso(r["last"], "last")

    problems = _each(
        label,
        "result",
        conn.execute("SELECT * FROM result ORDER BY id"),
        lambda r: r["id"],
        parse_result,
    )
    problems += _each(
        label,
        "suppression",
        conn.execute("SELECT * FROM suppression ORDER BY address"),
        lambda r: repr(r["address"]),
        parse_suppression,
    )
    problems += _each(
        label,
        "bounce",
        conn.execute("SELECT * FROM bounce ORDER BY address"),
        lambda r: repr(r["address"]),
        parse_bounce,
    )
    return problems


def check_dmarceval(conn: sqlite3.Connection, label: str) -> list[str]:
    from postel.dmarcevaldb.db import EvalDB

    db = EvalDB(conn, Path(label))

    def parse_evaluation(r: sqlite3.Row) -> None:
        e = db._evaluation(r)
        if e.day.isoformat() != r["day"]:
            raise ValueError(f"day {r['day']} but received {r['received']}")

    def parse_last(r: sqlite3.Row) -> None:
        _iso(r["period_end"], "period_end")

    def parse_suppression(r: sqlite3.Row) -> None:
        _iso(r["until"], "until")
        _iso(r["created"], "created")

    def parse_bounce(r: sqlite3.Row) -> None:
        _iso(r["last"], "last")

    checks: list[
        tuple[str, str, Callable[[sqlite3.Row], object], Callable[[sqlite3.Row], None]]
    ] = [
        ("evaluation", "id", lambda r: r["id"], parse_evaluation),
        ("last_report", "policy_domain", lambda r: repr(r["policy_domain"]), parse_last),
        ("suppression", "address", lambda r: repr(r["address"]), parse_suppression),
        ("bounce", "address", lambda r: repr(r["address"]), parse_bounce),
    ]
    problems: list[str] = []
    for table, order, key, parse in checks:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        problems += _each(label, table, rows, key, parse)
    return problems
