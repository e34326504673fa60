"""Errors of the DMARC aggregate report package: one hierarchy, messages say what and where.

All of them are bad input (a received report): DMARCReportError derives from
postel.errors.InputError, and ``where`` is the element path when known.
"""

from __future__ import annotations

from postel.errors import InputError, LimitError


class DMARCReportError(InputError):
    """Base of all errors raised by postel.dmarcrpt."""


class DMARCInputError(DMARCReportError):
    """The input is not XML, gzip, zip or a report message, or cannot be decoded."""


class DMARCLimitError(DMARCInputError, LimitError):
    """The input exceeds a size or count limit (e.g. a zip or gzip bomb)."""


class XMLError(DMARCReportError):
    """The XML is not well-formed, or uses forbidden constructs (DTDs, entities)."""


class ForbiddenXMLError(XMLError):
    """The XML uses a DTD, entity declarations or external references (never allowed)."""


class AggregateReportError(DMARCReportError):
    """The XML is not a valid aggregate report; `path` names the element, e.g. `record[0]/row`."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(message, where=path)
