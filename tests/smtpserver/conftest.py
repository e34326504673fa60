"""The ``env`` fixture: a running SMTPService (see smtpserver_env.py)."""

from smtpserver_env import env

__all__ = ["env"]
