"""The ``env`` fixture: a running IMAPService (see imap_env.py)."""

from imap_env import env

__all__ = ["env"]
