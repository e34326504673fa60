"""Errors of the DMARC aggregate report package: one hierarchy, messages say what and where."""

from __future__ import annotations


class DMARCReportError(Exception):
    """Base of all errors raised by postel.dmarcrpt."""


class InputError(DMARCReportError):
    """The input is not XML, gzip, zip or a report message, or cannot be decoded."""


class LimitError(InputError):
    """The input exceeds a size or count limit (e.g. a zip or gzip bomb)."""


class XMLError(DMARCReportError):
    """The XML is not well-formed, or uses forbidden constructs (DTDs, entities)."""


class ForbiddenXMLError(XMLError):
    """The XML uses a DTD, entity declarations or external references (never allowed)."""


class ReportError(DMARCReportError):
    """The XML is not a valid aggregate report; `path` names the element, e.g. `record[0]/row`."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)
