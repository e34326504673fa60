"""postel: a secure, low-maintenance mail server for your own domains."""

__version__ = "0.1.1"
