"""tlsrptresult.db: TLS results of outgoing deliveries, for daily reports (RFC 8460).

One row per (policy domain, UTC day, recipient domain), as in
docs/tls-reporting.md, Recording: recipient-domain rows (MTA-STS) and
MX-host rows (DANE) with their merged result entries.
"""

from postel.tlsrptresultdb.db import ResultDB
from postel.tlsrptresultdb.record import AttemptResults, ResultRow, rows_for_attempt

__all__ = ["AttemptResults", "ResultDB", "ResultRow", "rows_for_attempt"]
