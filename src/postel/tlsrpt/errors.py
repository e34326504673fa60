"""Errors of the TLSRPT package (RFC 8460): one hierarchy, messages say what and where.

All of them are bad input (a DNS record, a received report): TLSRPTError
derives from postel.errors.InputError, and ``where`` is the field or JSON path.
"""

from __future__ import annotations

from postel.errors import InputError, LimitError


class TLSRPTError(InputError):
    """Base of all errors raised by postel.tlsrpt."""


class RecordError(TLSRPTError):
    """A `_smtp._tls` TXT record is malformed (RFC 8460 §3)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message, where=field or "")


class MultipleRecordsError(RecordError):
    """More than one TXT string starts with v=TLSRPTv1 (RFC 8460 §3)."""


class TLSRPTReportError(TLSRPTError):
    """A report is malformed; `path` is the JSON path, e.g. `policies[0].summary`."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(message, where=path)


class TLSRPTInputError(TLSRPTError):
    """The input is not JSON, gzip or a report message, or cannot be decoded."""


class TLSRPTLimitError(TLSRPTInputError, LimitError):
    """The input exceeds a size or count limit (e.g. a gzip bomb)."""
