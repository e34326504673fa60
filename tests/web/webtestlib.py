"""Helpers for the web tests: a localserve-style instance with DKIM and MTA-STS,
and Starlette test clients for its admin."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from postel.config import Config, load_config
from postel.dns.mock import MockResolver
from postel.localserve import DOMAIN, PASSWORD, ensure_local_config
from postel.quickstart import write_dkim_keys
from postel.store import Store
from postel.web import build_app

POLICY_ID = "20240101T000000abcd"


@dataclass
class Instance:
    cfg: Config
    store: Store
    resolver: MockResolver

    def app(self, **kw: Any) -> Any:
        opts: dict[str, Any] = {"admin": True, "webmail": False, "mtasts": True, "internal": True}
        opts.update(kw)
        return build_app(self.cfg, self.store, self.resolver, **opts)


def make_instance(tmp_path: Path) -> Instance:
    """A localserve configuration in *tmp_path* plus DKIM keys and an MTA-STS policy."""
    info = ensure_local_config(tmp_path)
    selectors = write_dkim_keys(info.config_dir, DOMAIN, 2024)
    sign = ", ".join(f'"{s}"' for s, _, _ in selectors)
    lines = ["", f'[domains."{DOMAIN}".dkim]', f"sign = [{sign}]"]
    for sel, algo, key in selectors:
        lines += [
            f'[domains."{DOMAIN}".dkim.selectors."{sel}"]',
            f'algorithm = "{algo}"',
            f'key_file = "{key}"',
        ]
    lines += [
        f'[domains."{DOMAIN}".mta_sts]',
        f'policy_id = "{POLICY_ID}"',
        'mode = "enforce"',
        "max_age = 86400",
        "",
    ]
    path = info.config_dir / "domains.toml"
    path.write_text(path.read_text() + "\n".join(lines))
    cfg = load_config(info.config_dir)
    return Instance(cfg, Store(cfg.datadir), MockResolver({}))


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF field"
    return m.group(1)


def login(client: TestClient, password: str = PASSWORD) -> Any:
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"csrf": csrf_of(page.text), "password": password})


def post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Any:
    """Submit a form of *page* to *action* with the page's CSRF token."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": token, **data})
