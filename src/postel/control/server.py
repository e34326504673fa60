"""The control socket of a running server: ``<data>/control.sock``, mode 600.

CLI commands that change live state tell the running server through it, so
the change is used at once (docs/control-socket.md). Only the user that runs
postel (and root) can connect: the data directory is 0700 and the socket 0600.
Every request is bounded: one line of at most 64 KiB, 10 s to send it, at most
16 connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from postel.control.protocol import MAX_LINE, ControlMessageError, Response, decode_request
from postel.errors import PostelError

log = logging.getLogger("postel.control")

SOCKET_FILE = "control.sock"
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 16

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CommandError(PostelError):
    """A command that cannot be done; its message goes back to the client."""


class ControlServer:
    def __init__(self, root: Path, handlers: Mapping[str, Handler]) -> None:
        self.path = Path(root) / SOCKET_FILE
        self.handlers = dict(handlers)
        self._server: asyncio.AbstractServer | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def start(self) -> None:
        # The caller holds the data directory's owner lock: a socket file left
        # here is from a server that is gone.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_LINE + 1
        )
        os.chmod(self.path, 0o600)
        log.info("control socket listening", extra={"path": str(self.path)})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            writer.write(Response(False, error="too many control connections").encode())
            await _close(writer)
            return
        async with self._slots:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    line = await reader.readuntil(b"\n")
                response = await self.answer(line)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                response = Response(False, error="incomplete or too long control request")
            writer.write(response.encode())
            await _close(writer)

    async def answer(self, line: bytes) -> Response:
        try:
            request = decode_request(line)
        except ControlMessageError as exc:
            return Response(False, error=str(exc))
        handler = self.handlers.get(request.command)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return Response(False, error=f"unknown command {request.command!r} (known: {known})")
        try:
            result = await handler(request.args)
        except CommandError as exc:
            log.info("control command refused", extra={"command": request.command, "err": exc})
            return Response(False, error=str(exc))
        except Exception as exc:  # a bug: logged with its traceback, the server goes on
            log.exception("control command failed", extra={"command": request.command})
            return Response(False, error=f"{request.command}: internal error: {exc}")
        log.info("control command done", extra={"command": request.command})
        return Response(True, result)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        await writer.drain()
        writer.close()
        await writer.wait_closed()
