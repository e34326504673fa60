"""postel's server (postel.server.run) on its own event loop in a thread, for tests that
drive it from synchronous code (browsers)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from postel.config import Config
from postel.server import Running, run

Hook = Callable[[], Awaitable[None]]


@contextmanager
def serving(
    cfg: Config, *, before: Hook | None = None, after: Hook | None = None
) -> Iterator[Running]:
    """Run postel until the block ends; *before* runs on its loop first, *after* once
    the server has stopped (or failed). Fails when it does not start or stop in 30 s."""
    started = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            holder["stop"], holder["loop"] = stop, asyncio.get_running_loop()
            if before is not None:
                await before()

            def ready(r: Running) -> None:
                holder["running"] = r
                started.set()

            try:
                await run(cfg, ready=ready, stop=stop, check_dns=False)
            except BaseException as exc:
                holder["error"] = exc
                started.set()
                raise
            finally:
                if after is not None:
                    await after()

        asyncio.run(main())

    thread = threading.Thread(target=serve, name="postel", daemon=True)
    thread.start()
    assert started.wait(30), "postel did not start"
    assert "error" not in holder, holder.get("error")
    try:
        yield holder["running"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        assert not thread.is_alive(), "postel did not stop"
