"""What received TLS and DMARC reports say is wrong with our domains: findings
for the admin home, the received-report pages and a daily digest mail."""

from postel.reportfindings.findings import (
    DMARCFinding,
    Findings,
    OwnNames,
    TLSFinding,
    anchor,
)
from postel.reportfindings.gather import Settings, gather

__all__ = [
    "DMARCFinding",
    "Findings",
    "OwnNames",
    "Settings",
    "TLSFinding",
    "anchor",
    "gather",
]
