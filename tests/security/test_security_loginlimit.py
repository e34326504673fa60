"""One login limiter for SMTP AUTH and the web logins:
attempts counted before the password is checked, per client and per account,
shared by every process through auth.db; SCRAM that does not tell which
accounts exist; failed AUTH user names only at trace level."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import smtplib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from security_env import BOB_PASSWORD, PASSWORD, Env, RecordingSubmitter, make_config, run
from starlette.testclient import TestClient

from postel.dns.mock import MockResolver
from postel.log import TRACE
from postel.loginlimit import LoginLimiter
from postel.smtpserver import SMTPService
from postel.store.credentials import Credentials
from postel.store.store import Store
from postel.web.app import build_app

WRONG = "Wrong-guess-91c2"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


class Clock:
    """The limiter's wall clock, moved only by the test: the delays (1 s, 2 s,
    ...) are then the same however long a password check takes on a loaded
    machine, where a real second can pass between two guesses."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# -- web -------------------------------------------------------------------------------


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[object]:
    cfg = make_config(tmp_path, trustme.CA())
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
        creds.set_password("bob", BOB_PASSWORD)
    store = Store(cfg.datadir)
    limiter = LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings(), clock=Clock())
    try:
        yield build_app(
            cfg,
            store,
            MockResolver({}),
            admin=True,
            webmail=True,
            mtasts=False,
            internal=True,
            limiter=limiter,
        )
    finally:
        limiter.close()
        store.close()


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def test_concurrent_wrong_webmail_logins_are_not_all_checked(web_app: object) -> None:
    """60 wrong logins sent at once: only the free 5 reach the password check
    (401); the others are refused before it (429). Before: all 60 were checked."""
    transport = httpx.ASGITransport(app=web_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        form = await c.get("/webmail/login")
        m = CSRF_RE.search(form.text)
        assert m
        data = {"csrf": m.group(1), "address": "alice@example.org", "password": WRONG}
        answers = await asyncio.gather(*(c.post("/webmail/login", data=data) for _ in range(60)))
    codes = [r.status_code for r in answers]
    assert codes.count(401) == 5, codes
    assert codes.count(429) == 55
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)


def _login(c: TestClient, address: str, password: str) -> int:
    page = c.get("/webmail/login")
    m = CSRF_RE.search(page.text)
    assert m, page.text
    r = c.post(
        "/webmail/login",
        data={"csrf": m.group(1), "address": address, "password": password},
        follow_redirects=False,
    )
    if r.status_code == 303:
        c.post("/webmail/logout", data={"csrf": _csrf_after_login(c)}, follow_redirects=False)
    return r.status_code


def _csrf_after_login(c: TestClient) -> str:
    m = CSRF_RE.search(c.get("/webmail/compose").text)
    assert m
    return m.group(1)


def test_one_accounts_login_does_not_clear_anothers_failures(web_app: object) -> None:
    """From one client: 4 guesses at bob, alice logs in, 4 more... Before, each of
    alice's logins reset the client's count and bob could be guessed at without
    end; now bob's guesses are counted on their own."""
    with TestClient(web_app, base_url="https://testserver") as c:  # type: ignore[arg-type]
        bob: list[int] = []
        for _ in range(3):
            bob += [_login(c, "bob@example.org", WRONG) for _ in range(4)]
            assert _login(c, "alice@example.org", PASSWORD) == 303
    assert bob.count(401) == 5, bob  # checked: the free five only
    assert bob.count(429) == 7


def test_admin_and_webmail_share_the_limiter(web_app: object) -> None:
    with TestClient(web_app, base_url="https://testserver") as c:  # type: ignore[arg-type]
        # 20 failures from one client, on made-up addresses, then the admin login waits.
        codes = [_login(c, f"user{i}@example.org", WRONG) for i in range(20)]
        assert codes == [401] * 20
        page = c.get("/admin/login")
        m = CSRF_RE.search(page.text)
        assert m
        r = c.post("/admin/login", data={"csrf": m.group(1), "password": "x"})
        assert r.status_code == 429 and "Too many failed logins" in r.text


# -- SMTP AUTH -------------------------------------------------------------------------


def _guess(env: Env, port: int | None = None) -> int:
    """One connection, one wrong AUTH PLAIN; the reply code."""
    c = smtplib.SMTP_SSL(
        "127.0.0.1",
        port or env.ports["submissions"],
        local_hostname="laptop",
        timeout=10,
        context=env.client_context(),
    )
    try:
        c.ehlo()
        code = c.docmd("AUTH", "PLAIN " + b64(f"\0alice@example.org\0{WRONG}"))[0]
        c.docmd("QUIT")
    finally:
        c.close()
    return code


@pytest.fixture
def clock(smtp_env: Env) -> Clock:
    """The SMTP service's limiter on a clock of the test's."""
    clock = Clock()
    assert smtp_env.service.ctx.limiter is not None
    smtp_env.service.ctx.limiter.clock = clock
    return clock


async def test_smtp_auth_guesses_across_connections_are_bounded(
    smtp_env: Env, clock: Clock
) -> None:
    """A new connection per guess from one address. Before: every guess was
    checked (about 20/s with a 1 s delay per failure, more here with the
    tests' 10 ms); now 5 free, then one after 1 s, one after 2 more s."""

    def guesses(n: int) -> list[int]:
        return [_guess(smtp_env) for _ in range(n)]

    def go() -> list[list[int]]:
        rounds = [guesses(8)]
        clock.now += 0.9  # not yet
        rounds.append(guesses(2))
        clock.now += 0.1  # 1 s after the fifth failure
        rounds.append(guesses(3))
        clock.now += 1.9
        rounds.append(guesses(2))
        clock.now += 0.1  # 2 s after the sixth
        rounds.append(guesses(3))
        return rounds

    assert await run(go) == [
        [535] * 5 + [454] * 3,
        [454] * 2,
        [535] + [454] * 2,
        [454] * 2,
        [535] + [454] * 2,
    ]


async def test_smtp_refusal_comes_before_the_password_check(smtp_env: Env, clock: Clock) -> None:
    def go() -> list[tuple[int, bytes]]:
        for _ in range(5):
            assert _guess(smtp_env) == 535
        with smtp_env.submissions() as c:
            c.ehlo()
            # Even the right password is not checked now (RFC 4954 §6: 454 4.7.0).
            plain = c.docmd("AUTH", "PLAIN " + b64(f"\0alice@example.org\0{PASSWORD}"))
            scram = c.docmd("AUTH", "SCRAM-SHA-256 " + b64("n,,n=alice,r=abcdefgh"))
            # Another account from the same client is not held back (5 < 20).
            other = c.docmd("AUTH", "PLAIN " + b64(f"\0bob@example.org\0{BOB_PASSWORD}"))
        return [plain, scram, other]

    plain, scram, other = await run(go)
    assert plain[0] == 454 and plain[1].startswith(b"4.7.0 too many failed logins")
    assert scram[0] == 454
    assert other[0] == 235


@pytest.fixture
async def second_service(smtp_env: Env, clock: Clock) -> AsyncIterator[SMTPService]:
    """Another SMTPService on the same data dir, with its own database connection:
    what an SMTP worker process has."""
    service = SMTPService(
        smtp_env.cfg, smtp_env.store, MockResolver({}), RecordingSubmitter(), dns_cache_seconds=0
    )
    service.ctx.auth_failure_delay = 0.01
    await service.start()
    assert service.ctx.limiter is not None
    service.ctx.limiter.clock = clock
    try:
        yield service
    finally:
        await service.stop()


async def test_smtp_limit_is_shared_between_services(
    smtp_env: Env, second_service: SMTPService
) -> None:
    """Five guesses through one service, the sixth through the other: refused."""
    port = next(p for _ip, p, kind in second_service.bound if kind == "submissions")

    def go() -> list[int]:
        return [_guess(smtp_env) for _ in range(5)] + [_guess(smtp_env, port)]

    codes = await run(go)
    assert codes == [535] * 5 + [454]


# -- SCRAM-SHA-256 for unknown names (item 6) ------------------------------------------


def _server_first(env: Env, user: str) -> dict[str, str]:
    with env.submissions() as c:
        c.ehlo()
        first = "n,," + f"n={user},r={b64(os.urandom(12))}"
        code, resp = c.docmd("AUTH", "SCRAM-SHA-256 " + b64(first))
        assert code == 334, (code, resp)
        c.docmd("*")
    text = base64.b64decode(resp).decode()
    return dict(a.split("=", 1) for a in text.split(","))


async def test_scram_does_not_tell_which_accounts_exist(smtp_env: Env) -> None:
    def go() -> list[dict[str, str]]:
        return [
            _server_first(smtp_env, u)
            for u in ("alice", "nobody", "nobody", "alice", "nobody@example.org", "someone")
        ]

    real, unknown, unknown2, real2, unknown_addr, other = await run(go)
    # A real account: the same salt and iteration count every time.
    assert real["s"] == real2["s"] and real["i"] == real2["i"] == "16384"
    # An unknown one: the same, too (before: a new random salt and 4096 each time).
    assert unknown["s"] == unknown2["s"]
    assert unknown["i"] == unknown_addr["i"] == other["i"] == real["i"]
    # Salts of the same form and length, different per name.
    assert len(base64.b64decode(unknown["s"])) == len(base64.b64decode(real["s"])) == 16
    assert len({real["s"], unknown["s"], unknown_addr["s"], other["s"]}) == 4
    assert len(unknown["r"]) == len(real["r"])


async def test_scram_decoy_salt_survives_a_restart(smtp_env: Env) -> None:
    before = await run(lambda: _server_first(smtp_env, "nobody"))
    await smtp_env.service.stop()
    await smtp_env.service.start()
    smtp_env.ports = {kind: port for _ip, port, kind in smtp_env.service.bound}
    after = await run(lambda: _server_first(smtp_env, "nobody"))
    assert before["s"] == after["s"]


# -- logging (item 9, in part) ---------------------------------------------------------


async def test_failed_auth_user_name_only_at_trace_level(
    smtp_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    typed = "alice-Sekrit-typed-as-name"  # people type passwords into the name field
    caplog.set_level(TRACE, logger="postel")

    def go() -> int:
        with smtp_env.submissions() as c:
            c.ehlo()
            return c.docmd("AUTH", "PLAIN " + b64(f"\0{typed}\0{WRONG}"))[0]

    assert await run(go) == 535

    def carries(r: logging.LogRecord) -> bool:
        return typed in r.getMessage() or typed in repr(r.__dict__)

    assert not [r for r in caplog.records if r.levelno > TRACE and carries(r)]
    failed = [r for r in caplog.records if r.getMessage() == "authentication failed"]
    assert any(r.levelno == logging.INFO for r in failed)  # still logged, without the name
    assert any(r.levelno == TRACE and carries(r) for r in failed)
