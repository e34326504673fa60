"""Unwrapping report input: gzip (bounded) and report e-mails (RFC 8460 §5.3)."""

from __future__ import annotations

from collections.abc import Iterator

from postel import reportfile
from postel.reportfile import GZIP_MAGIC, Attachment, is_gzip, looks_like_message
from postel.tlsrpt.errors import TLSRPTInputError, TLSRPTLimitError

__all__ = [
    "GZIP_MAGIC",
    "Attachment",
    "gunzip_bounded",
    "gunzip_chunks",
    "is_gzip",
    "looks_like_message",
    "report_parts",
]

_ERRORS = reportfile.Errors(input=TLSRPTInputError, limit=TLSRPTLimitError)

# RFC 8460 §5.3 media types, then generic ones seen in the wild.
_REPORT_TYPES = ("application/tlsrpt+gzip", "application/tlsrpt+json")
_GENERIC_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/json",
    "application/octet-stream",
    "text/json",
    "text/plain",
)


def gunzip_chunks(data: bytes, max_size: int) -> Iterator[bytes]:
    """Decompress gzip data chunk by chunk, never past max_size bytes in all."""
    return reportfile.gunzip_chunks(data, max_size, _ERRORS)


def gunzip_bounded(data: bytes, max_size: int) -> bytes:
    """Decompress gzip data (all members) without ever producing more than max_size bytes."""
    return reportfile.gunzip_bounded(data, max_size, _ERRORS)


def _rank(ctype: str, fname: str) -> int | None:
    """0: a report media type; 1: a generic type or a report-like file name."""
    if ctype in _REPORT_TYPES:
        return 0
    if fname.lower().endswith((".json", ".json.gz", ".gz")) or ctype in _GENERIC_TYPES[:4]:
        return 1
    return None


def report_parts(data: bytes, max_parts: int | None = None) -> list[Attachment]:
    """The parts of a message that may hold a TLS report, best candidates first."""
    return reportfile.report_parts(data, _rank, _ERRORS, max_parts)
