"""tlsrpt.db: received TLS reports (RFC 8460), their duplicates, and sums for charts."""

from postel.tlsrptdb.db import KINDS, TLSRPTDB, open
from postel.tlsrptdb.errors import InvalidArgument, TLSRPTDBError
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport

__all__ = [
    "KINDS",
    "TLSRPTDB",
    "AddResult",
    "DayTotal",
    "InvalidArgument",
    "OrgTotal",
    "Page",
    "StoredReport",
    "TLSRPTDBError",
    "open",
]
