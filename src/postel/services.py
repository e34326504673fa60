"""Optional services of a running instance, wired by what is configured.

Kept apart from server.py so that each later service (queue, web, reports)
adds itself here without touching the start-up sequence.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from postel.config import Config


async def make_submitter(cfg: Config, store: Any, resolver: Any, stack: AsyncExitStack) -> Any:
    """Where submitted mail goes: local accounts until the queue exists."""
    from postel.smtpserver import LocalSubmitter

    return LocalSubmitter(cfg, store)


async def start_extras(
    cfg: Config, store: Any, resolver: Any, stack: AsyncExitStack
) -> list[tuple[str, int, str]]:
    """Start services beyond SMTP; return what they listen on."""
    from postel.tlsrptsend.service import start_daily_reports

    # Daily outgoing TLS reports (RFC 8460); queued through an adding-only queue
    # whose entries the server's queue loop picks up.
    await start_daily_reports(cfg, resolver, stack)
    from postel.web import start_web

    # Web listeners: admin, webmail, MTA-STS policies (issue 8).
    return await start_web(cfg, store, resolver, stack)
