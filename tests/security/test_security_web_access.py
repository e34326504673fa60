"""Standard 6, admin and webmail pages need a session, and every POST a CSRF token
and a same-site Origin. The routes are enumerated from the application itself, so
a route added later is covered without editing this test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme
from security_env import ADMIN_PASSWORD, PASSWORD, make_config
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from postel.config import Config
from postel.dns.mock import MockResolver
from postel.store.credentials import Credentials
from postel.store.store import Store
from postel.web import build_app

PARAMS = {
    "domain": "example.org",
    "id": "1",
    "name": "bob",
    "action": "retry",
    "msgid": "1",
    "index": "0",
    "thread": "1",
    "path": "no/such/page",
}
PUBLIC = {"/admin/login", "/webmail/login"}
# Answer 401 to a request without a session: called by the page's scripts.
API = {"/webmail/api/recipientsecurity", "/webmail/events", "/webmail/rows"}
BASE = "https://testserver"


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m.group(1)], path)


def enumerate_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, concrete path) of every admin and webmail endpoint."""
    out: list[tuple[str, str]] = []

    def walk(routes: list[object], prefix: str) -> None:
        for r in routes:
            if isinstance(r, Mount):
                if r.path in ("/static",):
                    continue
                sub = r.routes if r.routes else getattr(r.app, "routes", [])
                walk(list(sub), prefix + r.path)
            elif isinstance(r, Route):
                for method in sorted((r.methods or {"GET"}) - {"HEAD"}):
                    out.append((method, prefix + _fill(r.path)))

    walk(list(getattr(app, "routes", [])), "")
    return [(m, p) for m, p in out if p.startswith(("/admin/", "/webmail/"))]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    cfg = make_config(tmp_path, trustme.CA())
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    store = Store(cfg.datadir)
    try:
        yield cfg, store
    finally:
        store.close()


def _app(instance: tuple[Config, Store], internal: bool = True) -> Starlette:
    cfg, store = instance
    return build_app(
        cfg, store, MockResolver({}), admin=True, webmail=True, mtasts=False, internal=internal
    )


def _csrf(client: TestClient, page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert m, page
    return m.group(1)


def test_routes_are_found(instance: tuple[Config, Store]) -> None:
    routes = enumerate_routes(_app(instance))
    methods = {m for m, _ in routes}
    assert methods == {"GET", "POST"}
    assert ("POST", "/admin/domains/add") in routes and ("GET", "/webmail/mailbox") in routes
    assert len([p for _, p in routes if p.startswith("/admin/")]) >= 20
    assert len([p for _, p in routes if p.startswith("/webmail/")]) >= 10


def test_every_route_needs_a_session(instance: tuple[Config, Store]) -> None:
    app = _app(instance)
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        for method, path in enumerate_routes(app):
            if path in PUBLIC:
                continue
            if method == "GET":
                r = c.get(path)
                if path in API:
                    assert r.status_code == 401, path
                else:
                    prefix = path.split("/")[1]
                    assert r.status_code == 303, (path, r.status_code)
                    # The login page, remembering where to return (a path of this app).
                    back = "" if path == f"/{prefix}/" else "?next=" + quote(path, safe="/")
                    assert r.headers["location"] == f"/{prefix}/login{back}", path
            else:
                # Even with a valid anonymous-session token (from the login page).
                prefix = path.split("/")[1]
                token = _csrf(c, f"/{prefix}/login")
                r = c.post(path, data={"csrf": token})
                assert r.status_code == 403, (path, r.status_code)


def test_every_post_needs_token_and_origin(instance: tuple[Config, Store]) -> None:
    app = _app(instance)
    with TestClient(app, base_url=BASE) as c:
        r = c.post(
            "/admin/login", data={"csrf": _csrf(c, "/admin/login"), "password": ADMIN_PASSWORD}
        )
        assert r.url.path == "/admin/"
        r = c.post(
            "/webmail/login",
            data={
                "csrf": _csrf(c, "/webmail/login"),
                "address": "alice@example.org",
                "password": PASSWORD,
            },
        )
        assert r.url.path.startswith("/webmail/") and "login" not in r.url.path
        tokens = {"admin": _csrf(c, "/admin/domains"), "webmail": _csrf(c, "/webmail/compose")}
        for method, path in enumerate_routes(app):
            if method != "POST":
                continue
            prefix = path.split("/")[1]
            good = tokens[prefix]
            refusals = [
                ({}, {}),  # no token
                ({"csrf": ""}, {}),
                ({"csrf": good[:-2] + "xx"}, {}),  # wrong token
                ({"csrf": tokens["webmail" if prefix == "admin" else "admin"]}, {}),  # other app's
                ({"csrf": good}, {"origin": "https://evil.example"}),  # right token, other site
                ({"csrf": good}, {"referer": "https://evil.example/x"}),
                ({"csrf": good}, {"sec-fetch-site": "cross-site"}),
                ({"csrf": good}, {"origin": "http://testserver"}),  # downgraded scheme
            ]
            for data, headers in refusals:
                r = c.post(path, data=data, headers=headers, follow_redirects=False)
                assert r.status_code == 403, (path, data.keys(), headers, r.status_code)
        # Still logged in (nothing above was acted on): the pages load.
        assert c.get("/admin/domains", follow_redirects=False).status_code == 200
        assert c.get("/webmail/compose", follow_redirects=False).status_code == 200


def test_sessions_do_not_cross_between_admin_and_webmail(instance: tuple[Config, Store]) -> None:
    app = _app(instance)
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        c.post(
            "/webmail/login",
            data={
                "csrf": _csrf(c, "/webmail/login"),
                "address": "alice@example.org",
                "password": PASSWORD,
            },
        )
        sid = c.cookies.get("postel_webmail", path="/webmail")
        assert sid
        c.cookies.set("postel_admin", sid, path="/admin")
        r = c.get("/admin/domains")
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=/admin/domains"


def test_cookie_attributes(instance: tuple[Config, Store]) -> None:
    app = _app(instance)
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        for prefix in ("admin", "webmail"):
            r = c.get(f"/{prefix}/login")
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
            assert f"path=/{prefix}" in cookie


def test_admin_only_on_internal_listeners_or_loopback(instance: tuple[Config, Store]) -> None:
    app = _app(instance, internal=False)
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        for method, path in enumerate_routes(app):
            if not path.startswith("/admin/"):
                continue
            r = c.get(path) if method == "GET" else c.post(path, data={})
            assert r.status_code == 403, (method, path, r.status_code)
