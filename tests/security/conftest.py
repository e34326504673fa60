"""Fixtures of the security tests (see security_env.py)."""

from security_env import smtp_env

__all__ = ["smtp_env"]
