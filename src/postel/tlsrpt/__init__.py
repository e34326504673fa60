"""SMTP TLS Reporting (RFC 8460): record parsing, report model, lenient parsing.

Pure: no I/O beyond what is passed in (the DNS lookup takes a resolver).
"""

from postel.tlsrpt.errors import (
    MultipleRecordsError,
    RecordError,
    TLSRPTError,
    TLSRPTInputError,
    TLSRPTLimitError,
    TLSRPTReportError,
)
from postel.tlsrpt.parse import (
    DEFAULT_LIMITS,
    Limits,
    ParseResult,
    parse_report,
    parse_report_json,
    report_from_obj,
)
from postel.tlsrpt.record import Record, parse_record, record_name, select_record
from postel.tlsrpt.report import (
    DateRange,
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    Report,
    ResultType,
    Summary,
    merge_failure_details,
    merge_policies,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DateRange",
    "FailureDetails",
    "Limits",
    "MultipleRecordsError",
    "ParseResult",
    "Policy",
    "PolicyDetails",
    "PolicyType",
    "Record",
    "RecordError",
    "Report",
    "ResultType",
    "Summary",
    "TLSRPTError",
    "TLSRPTInputError",
    "TLSRPTLimitError",
    "TLSRPTReportError",
    "merge_failure_details",
    "merge_policies",
    "parse_record",
    "parse_report",
    "parse_report_json",
    "record_name",
    "report_from_obj",
    "select_record",
]
