"""The control socket: a CLI change reaches the running
server at once. Before it, `postel account add` under localserve gave 550 for
the new address and 535 for its password until a restart."""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from postel.config import load_config
from postel.control import CommandError, ControlError, ControlServer, call
from postel.control.protocol import MAX_LINE
from postel.localserve import DOMAIN, PORTS, ensure_local_config
from postel.owner import OwnerLock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

NEW_PASSWORD = "a new password for bob"


def _postel(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postel", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _smtp_knows_bob(ip: str) -> tuple[int, int]:
    """(RCPT reply code for bob on port 25's stand-in, AUTH reply code as bob)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP(ip, PORTS["smtp"], timeout=10) as c:
        c.ehlo("client.example")
        c.mail("someone@example.org")
        rcpt, _ = c.rcpt(f"bob@{DOMAIN}")
    with smtplib.SMTP(ip, PORTS["submission"], timeout=10) as c:
        c.starttls(context=ctx)
        c.ehlo("client.example")
        try:
            code = c.login("bob", NEW_PASSWORD)[0]
        except smtplib.SMTPAuthenticationError as exc:
            code = exc.smtp_code
    return rcpt, code


def _unique_ip() -> str:
    return f"127.{os.getpid() % 200 + 20}.{int(time.time() * 10) % 250 + 1}.7"


@pytest.mark.integration
def test_account_add_reaches_a_running_localserve(tmp_path: Path) -> None:
    ip = _unique_ip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postel", "localserve", "--dir", str(tmp_path), "--ip", ip],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "localserve is running" in line or time.monotonic() > deadline:
                break
        config = str(tmp_path / "config")
        added = _postel(
            "account", "add", "--config", config, "bob", f"bob@{DOMAIN}",
            "--password-file", "-", stdin=NEW_PASSWORD + "\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert _smtp_knows_bob(ip) == (250, 235)
        assert "the running server (pid" in added.stdout and "uses it now" in added.stdout
        removed = _postel("account", "remove", "--config", config, "bob", "--yes")
        assert removed.returncode == 0 and "no longer knows it" in removed.stdout
        assert _smtp_knows_bob(ip)[0] == 550
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.integration
def test_config_reload_reports_a_broken_file_and_keeps_the_old(tmp_path: Path) -> None:
    from serverthread import serving

    info = ensure_local_config(tmp_path, _unique_ip())
    cfg = load_config(info.config_dir)
    with serving(cfg):
        before = cfg.domains
        path = cfg.domains_file
        good = path.read_text()
        path.write_text(good + '\n[accounts.broken]\ndomain = "nowhere.example"\n')
        out = _postel("config", "reload", "--config", str(info.config_dir))
        assert out.returncode == 1 and "domains.toml:19: accounts.broken" in out.stderr
        with pytest.raises(ControlError, match=r"accounts\.broken"):
            call(cfg.datadir.root, "reload")
        assert cfg.domains is before  # the running server keeps what it had
        path.write_text(good)
    none = _postel("config", "reload", "--config", str(info.config_dir))
    assert none.returncode == 1 and "no server runs" in none.stderr


async def test_socket_is_private_bounded_and_answers_errors(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    lock.acquire()

    async def fails(args: dict[str, Any]) -> dict[str, Any]:
        raise CommandError("cannot do that here")

    async def echo(args: dict[str, Any]) -> dict[str, Any]:
        return {"got": args}

    (tmp_path / "control.sock").write_text("stale")  # left by a server that died
    server = ControlServer(tmp_path, {"echo": echo, "fails": fails})
    await server.start()
    try:
        assert stat.S_IMODE((tmp_path / "control.sock").stat().st_mode) == 0o600

        def client() -> None:
            assert call(tmp_path, "echo", {"a": 1}) == {"got": {"a": 1}}
            with pytest.raises(ControlError, match="cannot do that here"):
                call(tmp_path, "fails")
            with pytest.raises(ControlError, match="unknown command 'nope'"):
                call(tmp_path, "nope")
            with pytest.raises(ControlError, match="more than 65536"):
                call(tmp_path, "echo", {"x": "a" * MAX_LINE})
            with socket.socket(socket.AF_UNIX) as raw:  # a client that ignores the limit
                raw.settimeout(20)
                raw.connect(str(tmp_path / "control.sock"))
                raw.sendall(b'{"command": "echo", "args": {"x": "' + b"a" * MAX_LINE)
                assert b"too long" in raw.recv(4096)

        await asyncio.to_thread(client)
    finally:
        await server.stop()
        lock.release()
    assert not (tmp_path / "control.sock").exists()
