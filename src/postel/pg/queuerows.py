"""Rows of the PostgreSQL queue tables as the queue's records (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from postel.pg.rows import Row, col_int
from postel.queue.model import Entry, QueuedMessage

# queue_entry e JOIN queue_message m, without the message's content.
ENTRY_COLUMNS = (
    "e.id, e.rcpt, e.domain, e.created, e.attempts, e.max_attempts, e.next_attempt, "
    "e.last_attempt, e.last_error, e.last_code, e.last_enhanced, e.remote_mta, e.hold, "
    "e.dsn_sent_delay, m.id, m.created, m.sender_account, m.mail_from, m.size, "
    "m.requiretls, m.tls_required_no, m.is_tlsrpt, m.is_dmarc_report, m.smtputf8, "
    "m.eightbit, m.subject, m.message_id"
)


def col_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text column, got {type(value).__name__}")
    return value


def col_time(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return value.astimezone(UTC)


def to_entries(rows: Sequence[Row]) -> list[Entry]:
    """Rows of ENTRY_COLUMNS as entries; entries of one message share its record."""
    msgs: dict[int, QueuedMessage] = {}
    out: list[Entry] = []
    for r in rows:
        mid = col_int(r[14])
        msg = msgs.get(mid)
        if msg is None:
            msg = msgs[mid] = QueuedMessage(
                id=mid,
                created=col_time(r[15]),
                sender_account=col_str(r[16]),
                mail_from=col_str(r[17]),
                size=col_int(r[18]),
                requiretls=bool(r[19]),
                tls_required_no=bool(r[20]),
                is_tlsrpt=bool(r[21]),
                is_dmarc_report=bool(r[22]),
                smtputf8=bool(r[23]),
                eightbit=bool(r[24]),
                subject=col_str(r[25]),
                message_id=col_str(r[26]),
            )
        out.append(
            Entry(
                id=col_int(r[0]),
                msg=msg,
                rcpt=col_str(r[1]),
                domain=col_str(r[2]),
                created=col_time(r[3]),
                attempts=col_int(r[4]),
                max_attempts=col_int(r[5]),
                next_attempt=col_time(r[6]),
                last_attempt=None if r[7] is None else col_time(r[7]),
                last_error=col_str(r[8]),
                last_code=col_int(r[9]),
                last_enhanced=col_str(r[10]),
                remote_mta=col_str(r[11]),
                hold=bool(r[12]),
                dsn_sent_delay=bool(r[13]),
            )
        )
    return out
