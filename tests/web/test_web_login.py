"""Login, logout, sessions, CSRF, rate limit, listener restriction, security headers."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient
from webtestlib import Instance, csrf_of, login, post

from postel.loginlimit import client_key
from postel.web.admin.state import COOKIE


def test_unauthenticated_get_redirects_to_login(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=False) as c:
        r = c.get("/admin/domains")
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=/admin/domains"


def test_login_and_logout(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        first = c.get("/admin/login")
        anon_id = c.cookies.get(COOKIE)
        assert anon_id
        r = c.post("/admin/login", data={"csrf": csrf_of(first.text), "password": "postelpostel"})
        assert r.status_code == 200
        assert r.url.path == "/admin/"
        # A new session id after login: the pre-login id is worthless (fixation).
        assert c.cookies.get(COOKIE) != anon_id
        assert "Log out" in r.text
        r = post(c, "/admin/", "/admin/logout", {})
        assert r.url.path == "/admin/login"
        r = c.get("/admin/domains", follow_redirects=False)
        assert r.status_code == 303


def test_session_cookie_flags(instance: Instance) -> None:
    with TestClient(instance.app(), base_url="https://testserver") as c:
        r = c.get("/admin/login")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" in cookie
        assert "path=/admin" in cookie
        assert r.headers["strict-transport-security"].startswith("max-age=")


def test_wrong_password(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        r = login(c, "wrong password")
        assert r.status_code == 401
        assert "Wrong password" in r.text
        assert c.get("/admin/domains", follow_redirects=False).status_code == 303


def test_rate_limit_after_five_failures(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        for _ in range(5):
            assert login(c, "nope-nope").status_code == 401
        r = login(c, "postelpostel")  # even the right password waits
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert "Too many failed logins" in r.text


def test_client_key_groups_ipv6_by_64() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    r = client.post("/admin/domains/add", data={"domain": "new.example"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    r = client.post("/admin/domains/add", data={"domain": "new.example", "csrf": "x" * 43})
    assert r.status_code == 403


def test_post_from_other_origin_is_refused(client: TestClient, instance: Instance) -> None:
    token = csrf_of(client.get("/admin/domains").text)
    r = client.post(
        "/admin/domains/add",
        data={"csrf": token, "domain": "new.example"},
        headers={"origin": "http://evil.example"},
    )
    assert r.status_code == 403
    r = client.post(
        "/admin/domains/add",
        data={"csrf": token, "domain": "new.example"},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert r.status_code == 403
    assert "new.example" not in instance.cfg.domains.domains


def test_post_from_same_origin_is_accepted(client: TestClient, instance: Instance) -> None:
    token = csrf_of(client.get("/admin/suppressions").text)
    r = client.post(
        "/admin/suppressions/add",
        data={"csrf": token, "address": "a@b.example"},
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
    )
    assert r.status_code == 200
    assert "a@b.example" in r.text


def test_login_post_needs_the_login_page_token(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        r = c.post("/admin/login", data={"password": "postelpostel"})
        assert r.status_code == 403


class ServerAddress:
    """ASGI wrapper setting the local address the request arrived on."""

    def __init__(self, app: Any, ip: str) -> None:
        self.app, self.ip = app, ip

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope = dict(scope)
        scope["server"] = (self.ip, 8080)
        await self.app(scope, receive, send)


def test_admin_refused_on_public_listener(instance: Instance) -> None:
    app = instance.app(internal=False)
    with TestClient(ServerAddress(app, "192.0.2.10")) as c:
        r = c.get("/admin/login")
        assert r.status_code == 403
        assert "internal" in r.text


def test_admin_allowed_on_loopback_of_public_listener(instance: Instance) -> None:
    app = instance.app(internal=False)
    for ip in ("127.0.0.1", "::1"):
        with TestClient(ServerAddress(app, ip)) as c:
            assert c.get("/admin/login").status_code == 200


def test_admin_not_mounted_when_disabled(instance: Instance) -> None:
    with TestClient(instance.app(admin=False)) as c:
        assert c.get("/admin/login").status_code == 404


def test_security_headers(instance: Instance) -> None:
    with TestClient(instance.app()) as c:
        r = c.get("/admin/login")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        static = c.get("/static/admin.css")
        assert static.status_code == 200
        assert static.headers["x-content-type-options"] == "nosniff"
