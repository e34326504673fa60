"""Errors of the TLSRPT package (RFC 8460): one hierarchy, messages say what and where."""

from __future__ import annotations


class TLSRPTError(Exception):
    """Base of all errors raised by postel.tlsrpt."""


class RecordError(TLSRPTError):
    """A `_smtp._tls` TXT record is malformed (RFC 8460 §3)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class MultipleRecordsError(RecordError):
    """More than one TXT string starts with v=TLSRPTv1 (RFC 8460 §3)."""


class ReportError(TLSRPTError):
    """A report is malformed; `path` is the JSON path, e.g. `policies[0].summary`."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


class InputError(TLSRPTError):
    """The input is not JSON, gzip or a report message, or cannot be decoded."""


class LimitError(InputError):
    """The input exceeds a size or count limit (e.g. a gzip bomb)."""
