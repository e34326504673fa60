"""Conversations: a thread key for every message, given when it is stored.

The idea of RFC 5256's REFERENCES algorithm, simplified so that one message
is threaded by a few index lookups and never by reading the mailbox:

1. A message joins the thread of the nearest message it refers to that this
   account holds: In-Reply-To first, then References from the last (the
   parent) to the first (the root) (RFC 5322 §3.6.4).
2. Else it joins the thread of a stored message that replies to it (one that
   arrived before its parent, RFC 5256 §2.2 builds the same tree from either
   order).
3. Else, when it is a reply or a forward (a "Re:" or "Fwd:" prefix, or it
   refers to messages not stored here), it joins the newest thread with the
   same base subject (RFC 5256 §2.1) seen in the last :data:`SUBJECT_WINDOW`.
   Unlike RFC 5256, messages that merely share a subject ("Invoice") are not
   put together.
4. Else it starts a thread; its key is its own message id.

Threads span mailboxes (a reply in Sent belongs with the mail in the Inbox).
Keys are never merged afterwards: a thread is split where an earlier message
that would join two threads arrives after both started.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta

from postel.store.envelope import Envelope

MAX_REFERENCES = 20  # message ids of References looked up, nearest first
SUBJECT_WINDOW = timedelta(days=60)
MAX_BASE_SUBJECT = 200

# A msg-id (RFC 5322 §3.6.4), as written in practice: no nested brackets or spaces.
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
# Leading reply/forward markers and [list tags] (RFC 5256 §2.1 subj-leader,
# subj-refwd, subj-blob), including common non-English ones.
_MARKER = r"(?:re|fwd?|aw|wg|sv|vs|antw|tr|rif)\s*(?:\[\d+\])?\s*[:：]"
_BLOB = r"\[[^\[\]]*\]"
_LEADER = re.compile(rf"^(?:\s*(?:{_MARKER}|{_BLOB}))+\s*", re.IGNORECASE)
_REPLY = re.compile(rf"^\s*(?:{_BLOB}\s*)*{_MARKER}", re.IGNORECASE)
_TRAILER = re.compile(r"(?:\s*\(fwd\))+\s*$", re.IGNORECASE)
_FWD_WRAP = re.compile(r"^\[fwd:\s*(.*)\]$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
# Unread, as an index condition (flags holds system flags only; RFC 9051 §2.3.2).
UNSEEN = "instr(flags, '\\Seen') = 0"


def message_ids(text: str) -> list[str]:
    """The msg-ids in a header value, in order."""
    return _MSG_ID.findall(text)


def base_subject(subject: str) -> str:
    """The base subject (RFC 5256 §2.1, simplified): without reply and forward
    markers, list tags and "(fwd)", white space collapsed, case folded; at most
    :data:`MAX_BASE_SUBJECT` characters."""
    s = _SPACE.sub(" ", subject).strip()
    while True:
        before = s
        s = _TRAILER.sub("", s)
        m = _FWD_WRAP.match(s)
        if m is not None:
            s = m.group(1).strip()
        # A subject that is all [blob] keeps it (RFC 5256 §2.1 step 4).
        s = _LEADER.sub("", s) or s
        if s == before:
            break
    return s.casefold()[:MAX_BASE_SUBJECT]


def is_reply(subject: str) -> bool:
    """Whether *subject* starts with a reply or forward marker (after list tags)."""
    return _REPLY.match(subject) is not None


def references_of(in_reply_to: str, references: str) -> list[str]:
    """Message ids a message refers to, nearest first, each once."""
    ids = message_ids(in_reply_to) + list(reversed(message_ids(references)[-MAX_REFERENCES:]))
    return list(dict.fromkeys(ids))


def thread_for(
    conn: sqlite3.Connection,
    *,
    msgid: int,
    message_id: str,
    in_reply_to: str,
    references: str,
    subject: str,
    received: datetime,
) -> tuple[int, str]:
    """(thread key, base subject) for message *msgid* (rules in the module text)."""
    base = base_subject(subject)
    refs = references_of(in_reply_to, references)
    for ref in refs:
        row = conn.execute(
            "SELECT thread_id FROM message WHERE message_id = ? AND id != ? AND thread_id != 0 "
            "LIMIT 1",
            (ref, msgid),
        ).fetchone()
        if row is not None:
            return int(row[0]), base
    own = message_ids(message_id)
    if own:
        row = conn.execute(
            # "!= ''" lets SQLite use the partial index message_in_reply_to.
            "SELECT thread_id FROM message WHERE in_reply_to = ? AND in_reply_to != '' "
            "AND id != ? AND thread_id != 0 LIMIT 1",
            (own[0], msgid),
        ).fetchone()
        if row is not None:
            return int(row[0]), base
    if base and (refs or is_reply(subject)):
        row = conn.execute(
            "SELECT thread_id, received FROM message WHERE thread_subject = ? "
            "AND thread_subject != '' AND id < ? AND thread_id != 0 ORDER BY id DESC LIMIT 1",
            (base, msgid),
        ).fetchone()
        if row is not None and _within_window(row[1], received):
            return int(row[0]), base
    return msgid, base


def _within_window(text: str, received: datetime) -> bool:
    try:
        other = datetime.fromisoformat(text)
    except ValueError:
        return False
    if other.tzinfo is None or received.tzinfo is None:
        other, received = other.replace(tzinfo=None), received.replace(tzinfo=None)
    return abs(received - other) <= SUBJECT_WINDOW


def assign(conn: sqlite3.Connection, msgid: int, env: Envelope, received: datetime) -> int:
    """Give the just inserted message *msgid* its thread key (inside the
    delivery's transaction); returns the key."""
    thread, base = thread_for(
        conn,
        msgid=msgid,
        message_id=env.message_id,
        in_reply_to=env.in_reply_to,
        references=env.references,
        subject=env.subject,
        received=received,
    )
    conn.execute(
        "UPDATE message SET thread_id = ?, thread_subject = ? WHERE id = ?", (thread, base, msgid)
    )
    return thread


# Migration: the columns, every message its own thread and its base subject
# (one statement), the indexes, then the replies threaded in id order (their
# References are not in the index: In-Reply-To and subject only).
THREAD_COLUMNS = (
    "ALTER TABLE message ADD COLUMN thread_id INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE message ADD COLUMN thread_subject TEXT NOT NULL DEFAULT ''",
)
THREAD_INDEXES = (
    # Thread heads of a mailbox page, the messages of one thread, their count.
    "CREATE INDEX message_thread ON message (thread_id, mailbox_id, uid)",
    # The unread messages of a thread (few): counted without reading the others.
    f"CREATE INDEX message_thread_unseen ON message (thread_id, mailbox_id) WHERE {UNSEEN}",
    "CREATE INDEX message_thread_subject ON message (thread_subject) WHERE thread_subject != ''",
    "CREATE INDEX message_in_reply_to ON message (in_reply_to) WHERE in_reply_to != ''",
)


def migrate(conn: sqlite3.Connection) -> None:
    """Add thread keys (a migration step, inside its transaction)."""
    for statement in THREAD_COLUMNS:
        conn.execute(statement)
    conn.create_function("postel_base_subject", 1, base_subject, deterministic=True)
    conn.create_function("postel_is_reply", 1, is_reply, deterministic=True)
    conn.execute("UPDATE message SET thread_id = id, thread_subject = postel_base_subject(subject)")
    for statement in THREAD_INDEXES:
        conn.execute(statement)
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, message_id, in_reply_to, subject, received FROM message "
            "WHERE id > ? AND (in_reply_to != '' OR postel_is_reply(subject)) "
            "ORDER BY id LIMIT 1000",
            (last,),
        ).fetchall()
        if not rows:
            return
        for msgid, message_id, in_reply_to, subject, received in rows:
            env = Envelope(subject=subject, message_id=message_id, in_reply_to=in_reply_to)
            assign(conn, int(msgid), env, datetime.fromisoformat(received))
        last = int(rows[-1][0])
