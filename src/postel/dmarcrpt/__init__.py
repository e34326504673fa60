"""DMARC aggregate report parsing (RFC 7489 appendix C and RFC 9990 formats).

Pure: parses bytes passed in; XML through defusedxml (no DTDs, no entities).
"""

from postel.dmarcrpt.errors import (
    AggregateReportError,
    DMARCInputError,
    DMARCLimitError,
    DMARCReportError,
    ForbiddenXMLError,
    XMLError,
)
from postel.dmarcrpt.parse import (
    DEFAULT_LIMITS,
    Limits,
    ParseResult,
    parse_report,
    parse_report_xml,
    report_from_element,
)
from postel.dmarcrpt.report import (
    NAMESPACE_RFC9990,
    AuthResults,
    DateRange,
    DKIMResult,
    Identifiers,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    Report,
    ReportMetadata,
    Row,
    SPFResult,
)

__all__ = [
    "DEFAULT_LIMITS",
    "NAMESPACE_RFC9990",
    "AggregateReportError",
    "AuthResults",
    "DKIMResult",
    "DMARCInputError",
    "DMARCLimitError",
    "DMARCReportError",
    "DateRange",
    "ForbiddenXMLError",
    "Identifiers",
    "Limits",
    "ParseResult",
    "PolicyEvaluated",
    "PolicyOverrideReason",
    "PolicyPublished",
    "Record",
    "Report",
    "ReportMetadata",
    "Row",
    "SPFResult",
    "XMLError",
    "parse_report",
    "parse_report_xml",
    "report_from_element",
]
