"""Webmail for account users: mailboxes, reading with sanitised HTML,
compose/reply/forward/drafts, sending through the queue, and the per-recipient
security bar (postel.recipientsecurity) with its JSON endpoint."""

from postel.web.webmail.app import build

__all__ = ["build"]
