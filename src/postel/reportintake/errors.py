"""Errors of report intake. Bad report input is never an error (see IntakeResult);
only a wrong call is."""

from __future__ import annotations

from postel.errors import PostelError


class UnknownKind(PostelError):
    """The kind of report is not one of KINDS."""
