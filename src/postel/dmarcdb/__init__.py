"""dmarcrpt.db: received DMARC aggregate reports, their duplicates, and sums for charts."""

from postel.dmarcdb.counts import report_counts
from postel.dmarcdb.db import DMARCDB, open
from postel.dmarcdb.errors import DMARCDBArgumentError, DMARCDBError
from postel.dmarcdb.model import (
    AddResult,
    Counts,
    DayTotal,
    FailingRecord,
    OrgTotal,
    Page,
    StoredReport,
)

__all__ = [
    "DMARCDB",
    "AddResult",
    "Counts",
    "DMARCDBArgumentError",
    "DMARCDBError",
    "DayTotal",
    "FailingRecord",
    "OrgTotal",
    "Page",
    "StoredReport",
    "open",
    "report_counts",
]
