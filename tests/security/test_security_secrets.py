"""Standard 3, secrets are never logged: SMTP AUTH (PLAIN, LOGIN, SCRAM-SHA-256, with
initial response and as challenges, right and wrong), admin and webmail logins,
session cookies and CSRF tokens. Logging runs at trace for every package (but not
traceauth), and everything logged anywhere is captured and searched."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from security_env import ADMIN_PASSWORD, BOB_PASSWORD, PASSWORD, Env, make_config, run
from starlette.testclient import TestClient

import postel.log
from postel.dns.mock import MockResolver
from postel.store.credentials import Credentials
from postel.store.store import Store
from postel.web import build_app

WRONG = "Wrong-guess-9a8b7c6d"  # a mistyped password is often a real one
PACKAGES = ["smtpserver", "smtp", "web", "store", "auth", "queue", "dns", "log", "config"]


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []

    def text(self) -> str:
        raw = "\n".join(
            f"{r.name} {r.levelname} {r.getMessage()} {r.__dict__!r}" for r in self.records
        )
        return self.stream.getvalue() + "\n" + raw

    def assert_free_of(self, secrets: list[str]) -> None:
        text = self.text()
        assert self.stream.getvalue().strip(), "nothing was logged: the test proves nothing"
        for secret in secrets:
            assert secret not in text, f"secret {secret[:6]}... found in the log"


class _Keep(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(level=1)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture
def trace_log() -> Iterator[Captured]:
    """postel.log.configure("trace") for every package, into a buffer; plus every
    record of any logger (uvicorn, starlette, httpx, ...) kept as it was made."""
    cap = Captured()
    root = logging.getLogger()
    old_root_level = root.level
    keep = _Keep(cap.records)
    root.addHandler(keep)
    root.setLevel(1)
    handler = postel.log.configure("trace", {p: "trace" for p in PACKAGES}, stream=cap.stream)
    postel_logger = logging.getLogger("postel")
    postel_logger.addHandler(keep)
    try:
        yield cap
    finally:
        postel_logger.removeHandler(keep)
        postel_logger.removeHandler(handler)
        postel_logger.propagate = True
        postel_logger.setLevel(logging.NOTSET)
        for p in PACKAGES:
            logging.getLogger(f"postel.{p}").setLevel(logging.NOTSET)
        root.removeHandler(keep)
        root.setLevel(old_root_level)


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _password_forms(password: str, user: str = "alice@example.org") -> list[str]:
    plain = [f"\0{user}\0{password}", f"{user}\0{user}\0{password}"]
    return [password, b64(password), *(b64(p) for p in plain)]


def scram(c: smtplib.SMTP, user: str, password: str, initial: bool) -> tuple[int, list[str]]:
    """SCRAM-SHA-256 (RFC 5802 §3); returns the final code and the secret-bearing lines."""
    cnonce = b64(os.urandom(12))
    first_bare = f"n={user},r={cnonce}"
    if initial:
        code, resp = c.docmd("AUTH", "SCRAM-SHA-256 " + b64("n,," + first_bare))
    else:
        code, _ = c.docmd("AUTH", "SCRAM-SHA-256")
        assert code == 334
        code, resp = c.docmd(b64("n,," + first_bare))
    assert code == 334, resp
    server_first = base64.b64decode(resp).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    sig = hmac.new(stored, auth_message, hashlib.sha256).digest()
    proof = b64(bytes(a ^ b for a, b in zip(client_key, sig, strict=True)))
    final = b64(f"{without_proof},p={proof}")
    code, resp = c.docmd(final)
    secrets = [proof, final, b64(salted), b64(client_key)]
    if code == 334:
        code, _ = c.docmd("")
    return code, secrets


async def test_smtp_auth_secrets_not_logged(smtp_env: Env, trace_log: Captured) -> None:
    secrets: list[str] = []

    def go() -> list[int]:
        codes = []
        for mech in (
            "PLAIN-initial",
            "PLAIN-challenge",
            "LOGIN-initial",
            "LOGIN-challenge",
            "SCRAM-initial",
            "SCRAM-challenge",
        ):
            for user, password, want in (
                ("alice@example.org", WRONG, 535),
                ("alice@example.org", PASSWORD, 235),
            ):
                with smtp_env.submissions() as c:
                    c.ehlo()
                    if mech == "PLAIN-initial":
                        code = c.docmd("AUTH", "PLAIN " + b64(f"\0{user}\0{password}"))[0]
                    elif mech == "PLAIN-challenge":
                        assert c.docmd("AUTH", "PLAIN")[0] == 334
                        code = c.docmd(b64(f"\0{user}\0{password}"))[0]
                    elif mech == "LOGIN-initial":
                        assert c.docmd("AUTH", "LOGIN " + b64(user))[0] == 334
                        code = c.docmd(b64(password))[0]
                    elif mech == "LOGIN-challenge":
                        assert c.docmd("AUTH", "LOGIN")[0] == 334
                        assert c.docmd(b64(user))[0] == 334
                        code = c.docmd(b64(password))[0]
                    else:
                        code, more = scram(c, user, password, mech == "SCRAM-initial")
                        secrets.extend(more)
                    codes.append(code == want)
        # STARTTLS on 587, and smtplib's own AUTH (PLAIN) for a second account.
        with smtp_env.submission() as c:
            c.starttls(context=smtp_env.client_context())
            c.login("bob@example.org", BOB_PASSWORD)
            c.docmd("MAIL", "FROM:<bob@example.org>")
        # AUTH refused before TLS still carries the password: it must not be logged.
        with smtp_env.submission() as c:
            c.ehlo()
            codes.append(
                c.docmd("AUTH", "PLAIN " + b64(f"\0bob@example.org\0{BOB_PASSWORD}"))[0] == 538
            )
        # A cancelled exchange and a malformed one.
        with smtp_env.submissions() as c:
            c.ehlo()
            c.docmd("AUTH", "LOGIN " + b64("alice@example.org"))
            codes.append(c.docmd("*")[0] == 501)
            c.docmd("AUTH", "PLAIN")
            codes.append(c.docmd(b64(f"{PASSWORD}\0only-two"))[0] == 501)
        return codes

    codes = await run(go)
    assert all(codes), codes
    text = trace_log.stream.getvalue()
    assert "C: AUTH PLAIN ***" in text  # the trace is there, redacted
    assert "C: ***" in text
    assert "S: 235 2.7.0" in text
    trace_log.assert_free_of(
        _password_forms(PASSWORD)
        + _password_forms(WRONG)
        + _password_forms(BOB_PASSWORD, "bob@example.org")
        + [b64(f"{PASSWORD}\0only-two")]
        + secrets
    )


# -- web ---------------------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[TestClient]:
    cfg = make_config(tmp_path, trustme.CA())
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    store = Store(cfg.datadir)
    app = build_app(
        cfg, store, MockResolver({}), admin=True, webmail=True, mtasts=False, internal=True
    )
    try:
        with TestClient(app, base_url="https://testserver") as client:
            yield client
    finally:
        store.close()


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf(client: TestClient, page: str) -> str:
    m = CSRF_RE.search(client.get(page).text)
    assert m, page
    return m.group(1)


def test_web_logins_cookies_and_tokens_not_logged(web: TestClient, trace_log: Captured) -> None:
    secrets: list[str] = []
    # Admin: a wrong password, the right one, a page, a form post, logout.
    token = csrf(web, "/admin/login")
    secrets.append(token)
    r = web.post("/admin/login", data={"csrf": token, "password": WRONG})
    assert r.status_code == 401
    r = web.post(
        "/admin/login", data={"csrf": token, "password": ADMIN_PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303
    admin_cookie = web.cookies.get("postel_admin", path="/admin")
    assert admin_cookie
    secrets.append(admin_cookie)
    token = csrf(web, "/admin/accounts")
    secrets.append(token)
    r = web.post("/admin/domains/add", data={"csrf": "forged-" + token[:8], "domain": "x.example"})
    assert r.status_code == 403
    r = web.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303

    # Webmail: wrong and right password, a page, a refused post, logout.
    token = csrf(web, "/webmail/login")
    secrets.append(token)
    r = web.post(
        "/webmail/login", data={"csrf": token, "address": "alice@example.org", "password": WRONG}
    )
    assert r.status_code == 401
    r = web.post(
        "/webmail/login",
        data={"csrf": token, "address": "alice@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303
    mail_cookie = web.cookies.get("postel_webmail", path="/webmail")
    assert mail_cookie
    secrets.append(mail_cookie)
    token = csrf(web, "/webmail/compose")
    secrets.append(token)
    r = web.post("/webmail/compose", data={"to": "bob@example.org"})  # no token
    assert r.status_code == 403
    r = web.post("/webmail/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303

    text = trace_log.stream.getvalue()
    assert "login failed" in text and "webmail login" in text  # the events are logged
    trace_log.assert_free_of([PASSWORD, ADMIN_PASSWORD, WRONG, *secrets])


def test_secret_keys_are_masked_by_the_formatter() -> None:
    """Defence in depth: an extra named like a secret is printed as ***."""
    stream = io.StringIO()
    logger = logging.getLogger("postel.securitytest")
    handler = postel.log.configure("info", stream=stream)
    try:
        logger.info("x", extra={"password": PASSWORD, "Cookie": "sid=abc", "token": "t0k3n"})
    finally:
        logging.getLogger("postel").removeHandler(handler)
        logging.getLogger("postel").propagate = True
        logging.getLogger("postel").setLevel(logging.NOTSET)
    out = stream.getvalue()
    assert "password=***" in out and "Cookie=***" in out and "token=***" in out
    assert PASSWORD not in out and "sid=abc" not in out and "t0k3n" not in out
