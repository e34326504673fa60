"""What a running server does for the control socket's commands."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Protocol

import postel
from postel.control.server import CommandError, Handler

if TYPE_CHECKING:
    from postel.config import Config


class Wakeable(Protocol):
    """The queue, as far as the control socket needs it."""

    def wake(self) -> None: ...


def reload_domains(cfg: Config) -> dict[str, Any]:
    """domains.toml read again and used by the main process at once (the SMTP
    worker processes notice the changed file themselves within a second)."""
    from postel.config import ConfigError
    from postel.store.accountsfile import validate_domains

    path = cfg.domains_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        domains = validate_domains(text, str(path))
    except ConfigError as exc:
        raise CommandError("; ".join(str(p) for p in exc.problems)) from None
    cfg.domains = domains
    return {"domains": len(domains.domains), "accounts": len(domains.accounts)}


def handlers(
    cfg: Config, listening: list[tuple[str, int, str]], queue: Wakeable | None
) -> dict[str, Handler]:
    async def status(args: dict[str, Any]) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": postel.__version__,
            "listening": [list(b) for b in listening],
        }

    async def reload(args: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(reload_domains, cfg)

    async def wake_queue(args: dict[str, Any]) -> dict[str, Any]:
        if queue is None:
            raise CommandError("this server has no outgoing queue")
        queue.wake()
        return {}

    return {"status": status, "reload": reload, "queue.wake": wake_queue}
