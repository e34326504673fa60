"""tlsrpt.db: received TLS reports (RFC 8460), their duplicates, and sums for charts."""

from postel.tlsrptdb.columns import KINDS
from postel.tlsrptdb.db import TLSRPTDB, open
from postel.tlsrptdb.errors import TLSRPTDBArgumentError, TLSRPTDBError
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport

__all__ = [
    "KINDS",
    "TLSRPTDB",
    "AddResult",
    "DayTotal",
    "OrgTotal",
    "Page",
    "StoredReport",
    "TLSRPTDBArgumentError",
    "TLSRPTDBError",
    "open",
]
