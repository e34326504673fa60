"""The metrics listener: plain HTTP, GET /metrics and /healthz (uvicorn, in
postel's event loop). Bound to loopback by default ([metrics] in postel.toml)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from postel.metrics.errors import MetricsListenError
from postel.metrics.health import Check, evaluate
from postel.metrics.scrape import LiveSources, exposition
from postel.tcpsocket import listening_socket

log = logging.getLogger("postel.metrics")

# The text format every Prometheus version reads (what generate_latest writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SHUTDOWN_GRACE = 2.0
MAX_CONNECTIONS = 50  # scrapers and health probes are few


class _Server(uvicorn.Server):
    """Signals are postel's (postel.server), not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_app(path: Path, sources: LiveSources, checks: Callable[[], Sequence[Check]]) -> Starlette:
    """/metrics: the exposition of *path* and *sources*; /healthz: 200 "ok ..."
    lines when every check passes, else 503 with the failing ones."""

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(exposition, path, sources)
        return Response(body, media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        report = await asyncio.to_thread(evaluate, checks())
        return PlainTextResponse(report.text(), status_code=200 if report.ok else 503)

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def _bind(ip: str, port: int) -> socket.socket:
    try:
        return listening_socket(ip, port, 64)
    except OSError as exc:
        raise MetricsListenError(
            f"metrics listener {ip} port {port} ([metrics] in postel.toml): {exc.strerror or exc}"
        ) from exc


async def start_listener(
    ip: str, port: int, app: Starlette, stack: AsyncExitStack
) -> tuple[str, int]:
    """Serve *app* on *ip* and *port* until *stack* closes; the address bound."""
    sock = _bind(ip, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        http="h11",
        limit_concurrency=MAX_CONNECTIONS,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-listener")

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, SHUTDOWN_GRACE + 2)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        sock.close()

    stack.push_async_callback(stop)
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        raise MetricsListenError(
            f"metrics listener {ip} port {port}: did not start: {task.exception()}"
        )
    bound_ip, bound_port = sock.getsockname()[:2]
    log.info("metrics listener started", extra={"ip": bound_ip, "port": bound_port})
    return str(bound_ip), int(bound_port)
