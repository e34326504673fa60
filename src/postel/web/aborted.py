"""Requests whose client goes away while the body is read.

Starlette raises ClientDisconnect into the endpoint that reads the body (a form,
an upload); left alone, uvicorn logs it as an application error with a long
traceback. A client closing the connection mid-request is not an error of ours:
this middleware ends such a request with one info line saying what and where.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("postel.web")


class ClientAborts:
    """ASGI middleware: ClientDisconnect from the application becomes one log line
    (method, path, client, body bytes received and declared); nothing is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting_receive, send)
        except ClientDisconnect:
            declared = next(
                (
                    v.decode("latin-1")
                    for k, v in scope.get("headers", [])
                    if k == b"content-length"
                ),
                "",
            )
            client = scope.get("client")
            log.info(
                "http request ended before its body was complete",
                extra={
                    "method": scope.get("method", ""),
                    "path": scope.get("path", ""),
                    "client": client[0] if client else "",
                    "received": received,
                    "content_length": declared,
                },
            )
