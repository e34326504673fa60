"""Talking to a running server's control socket from the CLI (blocking)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from postel.control.protocol import MAX_LINE, ControlMessageError, Request, decode_response
from postel.control.server import SOCKET_FILE
from postel.errors import PostelError
from postel.owner import running_owner


class ControlError(PostelError):
    """The running server could not be reached or refused the command."""


def server_pid(root: Path) -> int | None:
    """The pid of the server running on data directory *root*, or None."""
    return running_owner(Path(root))


def call(
    root: Path, command: str, args: dict[str, Any] | None = None, *, timeout: float = 30.0
) -> dict[str, Any]:
    """Send one command to the server running on *root*; its result."""
    path = Path(root) / SOCKET_FILE
    try:
        data = Request(command, args or {}).encode()
    except ControlMessageError as exc:
        raise ControlError(f"{command}: {exc}") from None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(data)
            line = b""
            while not line.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                line += chunk
                if len(line) > MAX_LINE:
                    raise ControlError(f"{path}: control response too long")
    except FileNotFoundError:
        raise ControlError(f"{path}: no control socket (is the server running?)") from None
    except OSError as exc:
        raise ControlError(f"{path}: {exc.strerror or exc}") from None
    try:
        response = decode_response(line)
    except ControlMessageError as exc:
        raise ControlError(f"{path}: {exc}") from None
    if not response.ok:
        raise ControlError(f"running server: {response.error}")
    return response.result
