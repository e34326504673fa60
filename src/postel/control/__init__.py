"""The control socket: CLI changes reach the running server at once."""

from postel.control.client import ControlError, call, server_pid
from postel.control.server import CommandError, ControlServer

__all__ = ["CommandError", "ControlError", "ControlServer", "call", "server_pid"]
