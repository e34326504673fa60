"""Intake of received TLS (RFC 8460) and DMARC aggregate (RFC 7489) report messages."""

from postel.reportintake.child import DEFAULT_CHILD_LIMITS, ChildLimits
from postel.reportintake.errors import UnknownKind
from postel.reportintake.intake import KINDS, intake, intake_sync
from postel.reportintake.result import IntakeResult, Status

__all__ = [
    "DEFAULT_CHILD_LIMITS",
    "KINDS",
    "ChildLimits",
    "IntakeResult",
    "Status",
    "UnknownKind",
    "intake",
    "intake_sync",
]
