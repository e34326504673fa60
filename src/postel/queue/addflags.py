"""What an added message's entries carry, from its content and the caller's
options (pure): the same for every entry store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from postel.queue import backoff
from postel.queue.db import needs_smtputf8
from postel.queue.headers import ContentFlags, content_flags, flags_from_header, split_header


@dataclass(frozen=True)
class AddFlags:
    requiretls: bool
    tls_required_no: bool
    is_tlsrpt: bool
    is_dmarc_report: bool
    smtputf8: bool
    eightbit: bool
    max_attempts: int
    subject: str
    message_id: str


def message_flags(message: Path | bytes) -> ContentFlags:
    """The content flags of a message given as bytes or as a complete file."""
    if isinstance(message, bytes):
        return flags_from_header(split_header(message), eightbit=not message.isascii())
    return content_flags(Path(message))


def add_flags(
    flags: ContentFlags,
    mail_from: str,
    *,
    requiretls: bool,
    tls_required_no: bool | None,
    is_tlsrpt: bool | None,
    is_dmarc_report: bool,
    max_attempts: int | None,
) -> AddFlags:
    """The options given, else what the headers say (TLS-Required: No,
    TLS-Report-Domain); reports get fewer attempts."""
    tlsrpt = flags.is_tlsrpt if is_tlsrpt is None else is_tlsrpt
    limit = max_attempts or (
        backoff.TLSRPT_MAX_ATTEMPTS if tlsrpt or is_dmarc_report else backoff.DEFAULT_MAX_ATTEMPTS
    )
    return AddFlags(
        requiretls=requiretls,
        # RFC 8689 §4.2.1: never both; REQUIRETLS wins.
        tls_required_no=(flags.tls_required_no if tls_required_no is None else tls_required_no)
        and not requiretls,
        is_tlsrpt=tlsrpt,
        is_dmarc_report=is_dmarc_report,
        smtputf8=flags.header_utf8 or needs_smtputf8(mail_from),
        eightbit=flags.eightbit,
        max_attempts=limit,
        subject=flags.subject,
        message_id=flags.message_id,
    )
