"""A web listener running with start_web on 127.0.0.1 (plain HTTP), for tests that
talk to it over real loopback connections, and helpers for such tests."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from webtestlib import Instance

from postel.localserve import ADDRESS, PASSWORD
from postel.web import start_web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sent:
    account: str
    mail_from: str
    rcpts: list[str]
    data: bytes


@dataclass
class RecordingSubmitter:
    """Records what the webmail hands over for sending; delivers nothing."""

    sent: list[Sent] = field(default_factory=list)

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None:
        self.sent.append(Sent(account, mail_from, list(rcpts), path.read_bytes()))


@dataclass
class Live:
    port: int
    submitter: RecordingSubmitter

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, local_address: str = "127.0.0.1", **kw: Any) -> httpx.AsyncClient:
        """An HTTP client connecting from *local_address* (any 127.0.0.0/8 address)."""
        transport = httpx.AsyncHTTPTransport(local_address=local_address)
        return httpx.AsyncClient(base_url=self.base, transport=transport, timeout=10, **kw)


@asynccontextmanager
async def live_web(instance: Instance, *, feed: Any = None, **web: Any) -> AsyncIterator[Live]:
    """The instance's "local" listener with admin and webmail on a free port;
    *web* sets further options of its [listeners.local.web]; *feed*: a started
    postel.store.notify.ChangeFeed for the webmail's live updates."""
    lst = instance.cfg.static.listeners["local"]
    lst.web.port = free_port()
    lst.web.tls = False
    lst.web.admin = lst.web.webmail = True
    for key, value in web.items():
        setattr(lst.web, key, value)
    submitter = RecordingSubmitter()
    async with AsyncExitStack() as stack:
        await start_web(
            instance.cfg, instance.store, instance.resolver, stack, submitter=submitter, feed=feed
        )
        yield Live(lst.web.port, submitter)


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF field"
    return m.group(1)


async def webmail_login(client: httpx.AsyncClient) -> None:
    """Log *client* in to the webmail as the localserve account."""
    page = await client.get("/webmail/login")
    r = await client.post(
        "/webmail/login",
        data={"csrf": csrf_of(page.text), "address": ADDRESS, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
