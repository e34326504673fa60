"""Bounds on HTTP requests: body size (neither Starlette nor uvicorn has one) and
head size and field count (uvicorn's h11 bound holds only per read).

A body declared (Content-Length) or found while it is read (chunked) to be
larger than the limit of its path gets 413 (RFC 9110 §15.5.14); the
application reading it is stopped and whatever it answers is dropped. Header
fields over MAX_HEAD bytes or MAX_FIELDS fields get 431 (RFC 6585 §5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("postel.web")

DEFAULT_MAX_BODY = 1024 * 1024  # admin forms, logins: a few KiB in practice
MAX_HEAD = 16 * 1024  # bytes of header field names and values
MAX_FIELDS = 100


class _TooLarge(Exception):
    """Raised into the application when its request body passes the limit."""


class RequestLimits:
    """ASGI middleware: header fields within MAX_HEAD/MAX_FIELDS, and at most
    *default* bytes of request body, or the limit of the longest matching path
    prefix in *limits* (e.g. ``{"/webmail": 26 MiB}``)."""

    def __init__(
        self, app: ASGIApp, default: int = DEFAULT_MAX_BODY, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        if len(headers) > MAX_FIELDS or sum(len(k) + len(v) for k, v in headers) > MAX_HEAD:
            await _refuse(scope, send, 431, "request header fields too large")
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in headers:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await _refuse_body(scope, send, limit)
                return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        await _refuse_body(scope, send, limit)
                    refused = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; drop the application's error response
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not refused:
                raise


async def _refuse_body(scope: Scope, send: Send, limit: int) -> None:
    await _refuse(scope, send, 413, f"request body too large: at most {limit} bytes")


async def _refuse(scope: Scope, send: Send, status: int, text: str) -> None:
    log.info("request refused", extra={"path": scope.get("path", ""), "reason": text})
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
