"""Errors of the web listeners."""

from __future__ import annotations


class WebError(Exception):
    """Base of postel.web errors."""


class ListenError(WebError):
    """A web listener could not be started (address and port in the message)."""


class EditError(WebError):
    """A change to the configuration files was refused (file and reason in the message)."""
