"""A private Postfix instance on a loopback address, as a real SMTP peer (see README.md)."""

from postfixpeer.peer import PostfixError, PostfixPeer

__all__ = ["PostfixError", "PostfixPeer"]
