"""A configured instance (localserve config) with the webmail app for TestClient tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.testclient import TestClient

from postel.config import Config, load_config
from postel.dns.mock import MockResolver
from postel.localserve import ADDRESS, PASSWORD, ensure_local_config
from postel.store import Store
from postel.web.headers import SecurityHeaders
from postel.web.webmail import build


@dataclass
class Sent:
    account: str
    mail_from: str
    rcpts: list[str]
    data: bytes
    requiretls: bool


@dataclass
class FakeSubmitter:
    sent: list[Sent] = field(default_factory=list)
    refuse: Exception | None = None

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(Sent(account, mail_from, rcpts, path.read_bytes(), requiretls))


@dataclass
class Env:
    cfg: Config
    store: Store
    resolver: MockResolver
    submitter: FakeSubmitter
    client: TestClient

    def login(self, address: str = ADDRESS, password: str = PASSWORD) -> Any:
        self.client.get("/webmail/login")
        return self.client.post(
            "/webmail/login",
            data={"address": address, "password": password, "csrf": self.csrf()},
            follow_redirects=False,
        )

    def csrf(self) -> str:
        import re

        page = self.client.get("/webmail/compose" if self.logged_in() else "/webmail/login").text
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m, page
        return m.group(1)

    def logged_in(self) -> bool:
        r = self.client.get("/webmail/compose", follow_redirects=False)
        return r.status_code == 200

    def account(self) -> Any:
        return self.store.account("you")


def make_env(tmp_path: Path, resolver: MockResolver | None = None) -> Env:
    info = ensure_local_config(tmp_path)
    cfg = load_config(info.config_dir)
    store = Store(cfg.datadir)
    resolver = resolver or MockResolver({})
    sub = FakeSubmitter()
    app = Starlette(
        routes=[Mount("/webmail", app=build(cfg, store, resolver, submitter=sub))],
        middleware=[Middleware(SecurityHeaders)],
    )
    client = TestClient(app, base_url="http://testserver")
    return Env(cfg, store, resolver, sub, client)
