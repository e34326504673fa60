"""A CLI change reaches a running `postel serve` at once, its SMTP worker
processes and its main process (webmail) alike, through the control socket
(docs/control-socket.md). Before it, under serve the workers saw a new account
but the webmail refused its login until a restart."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import benchlib  # noqa: E402

pytestmark = pytest.mark.integration

PASSWORD = "bob's long password"
ADDRESS = "bob@bench.test"


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[benchlib.PostelInstance, int]]:
    with benchlib.dns_stub() as dns_port:
        certs = benchlib.make_certs(tmp_path / "certs")
        p = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
        p.write_config()
        web = benchlib.free_port()
        toml = p.root / "postel.toml"
        toml.write_text(
            toml.read_text().replace(
                "submissions = { enabled = false }\n",
                "submissions = { enabled = false }\n"
                f"web = {{ enabled = true, port = {web}, tls = false, webmail = true }}\n",
            )
        )
        p.start()
        try:
            _wait_http(web)
            yield p, web
        finally:
            p.stop()


def _wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"http://{benchlib.IP}:{port}/webmail/login", timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _postel(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postel", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _rcpt(port: int) -> int:
    with smtplib.SMTP(benchlib.IP, port, timeout=10) as c:
        c.ehlo("client.example")
        c.mail("someone@example.org")
        return c.rcpt(ADDRESS)[0]


def _webmail_login(web: int) -> str | None:
    """Where a login as bob leads: the inbox, or None when refused."""
    with httpx.Client(base_url=f"http://{benchlib.IP}:{web}", timeout=10) as c:
        page = c.get("/webmail/login").text
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m, "login page without a CSRF field"
        r = c.post(
            "/webmail/login",
            data={"address": ADDRESS, "password": PASSWORD, "csrf": m.group(1)},
            follow_redirects=False,
        )
        return r.headers.get("location") if r.status_code in (302, 303) else None


def test_account_add_and_remove_reach_serve_workers_and_webmail(
    serving: tuple[benchlib.PostelInstance, int],
) -> None:
    p, web = serving
    assert _rcpt(p.port) == 550 and _webmail_login(web) is None
    added = _postel(
        "account", "add", "--config", str(p.root), "bob", ADDRESS,
        "--password-file", "-", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "the running server (pid" in added.stdout and "uses it now" in added.stdout
    # The main process took it at once; each SMTP worker notices the changed
    # domains.toml within a second: every connection may land on either.
    assert (_webmail_login(web) or "").startswith("/webmail/")
    deadline = time.monotonic() + 5
    while True:
        codes = {_rcpt(p.port) for _ in range(6)}
        if codes == {250} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert codes == {250}

    removed = _postel("account", "remove", "--config", str(p.root), "bob", "--yes")
    assert removed.returncode == 0 and "no longer knows it" in removed.stdout
    assert _webmail_login(web) is None
    deadline = time.monotonic() + 5
    while True:
        codes = {_rcpt(p.port) for _ in range(6)}
        if codes == {550} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert codes == {550}
