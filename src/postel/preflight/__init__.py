"""Checks before `postel serve` starts anything: the operator's common mistakes.

A port in use or not permitted, a certificate that does not match its key or
cannot be read, a data directory written by a newer postel: each becomes one
:class:`StartupError` whose message is one line naming the file or
address:port and what to do, instead of a traceback from deep inside a
service that was already half started.
"""

from postel.preflight.check import Sockets, listen_all, preflight
from postel.preflight.errors import PortInUseError, StartupError

__all__ = ["PortInUseError", "Sockets", "StartupError", "listen_all", "preflight"]
