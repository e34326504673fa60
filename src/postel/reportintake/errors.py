"""Errors of report intake. Bad report input is never an error (see IntakeResult);
only a wrong call is."""

from __future__ import annotations


class ReportIntakeError(Exception):
    """Base of errors raised by postel.reportintake."""


class UnknownKind(ReportIntakeError):
    """The kind of report is not one of KINDS."""
