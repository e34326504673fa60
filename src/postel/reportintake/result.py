"""The outcome of taking in one report message."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    STORED = "stored"  # parsed and stored as a new report
    DUPLICATE = "duplicate"  # parsed; a copy of a report stored before
    UNPARSEABLE = "unparseable"  # not a usable report; the message stays delivered
    FAILED = "failed"  # parsed, but the database could not store it


@dataclass(frozen=True)
class IntakeResult:
    kind: str  # "tlsrpt" (domain), "tlsrpt-host" or "dmarc"
    rcpt: str
    status: Status
    db_id: int | None = None  # row id in tlsrpt.db / dmarcrpt.db
    organization: str = ""
    report_id: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    # Failed TLS sessions (TLS report) or messages failing DMARC (DMARC report)
    # that the new report shows: what others report is wrong with our domains.
    failures: int = 0

    @property
    def ok(self) -> bool:
        """Whether the report is in the database (new or as a duplicate)."""
        return self.status in (Status.STORED, Status.DUPLICATE)
