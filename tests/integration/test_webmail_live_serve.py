"""`postel serve` with SMTP workers and an open webmail event stream: a message
received by a worker shows on the stream (change notifications across
processes), and a stop signal ends the stream and the server at once, with no
error, warning or traceback in the log."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme
from test_serve_shutdown import DOMAINS_TOML, POSTEL_TOML, connect, free_port

import postel
from postel.config import load_config
from postel.store.credentials import Credentials

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SRC = str(Path(postel.__file__).resolve().parents[1])
PASSWORD = "a password for the live stream test"


def events(lines: object, want: int, timeout: float) -> list[tuple[str, object]]:
    """Read server-sent events until *want* named events or the end."""
    out: list[tuple[str, object]] = []
    name = ""
    deadline = time.monotonic() + timeout
    for line in lines:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, out
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name:
            out.append((name, json.loads(line[6:])))
            name = ""
            if len(out) >= want:
                break
    return out


def test_worker_delivery_reaches_the_stream_and_stop_ends_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    smtp, web = free_port(), free_port()
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(dns_port=free_port(), smtp=smtp, web=web).replace(
            "admin = true", "admin = true, webmail = true"
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    cfg = load_config(config)
    cfg.datadir.ensure()
    creds = Credentials(cfg.datadir.auth_db)
    try:
        creds.set_password("pm", PASSWORD)
    finally:
        creds.close()
    log = tmp_path / "postel.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postel", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": SRC},
            start_new_session=True,
        )
    try:
        connect(smtp).close()
        connect(web).close()
        base = f"http://127.0.0.1:{web}"
        with httpx.Client(base_url=base, timeout=10) as client:
            page = client.get("/webmail/login")
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = client.post(
                "/webmail/login",
                data={"csrf": csrf, "address": "postmaster@example.test", "password": PASSWORD},
            )
            assert r.status_code == 303, r.text
            with client.stream("GET", "/webmail/events?name=Inbox&since=0") as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                [(kind, first)] = events(lines, 1, 10)
                assert kind == "changes" and first["changed"] == []  # type: ignore[index]

                with smtplib.SMTP("127.0.0.1", smtp, local_hostname="client.test", timeout=20) as c:
                    c.sendmail(
                        "someone@client.test",
                        ["postmaster@example.test"],
                        b"Subject: through a worker\r\n\r\nhello\r\n",
                    )
                [(kind, d)] = events(lines, 1, 10)
                assert kind == "changes"
                assert [m["subject"] for m in d["changed"]] == ["through a worker"]  # type: ignore[index]
                assert [b["unseen"] for b in d["boxes"] if b["name"] == "Inbox"] == [1]  # type: ignore[index]

                stopped = time.monotonic()
                os.killpg(proc.pid, signal.SIGTERM)
                assert events(lines, 1, 10) == []  # the stream ends, no further event
                assert proc.wait(30) == 0
                # Well before the listeners' grace period (5 s) would cut the stream.
                assert time.monotonic() - stopped < 4
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text("utf-8", "replace")
    for bad in ("l=error", "l=warning", "Traceback", "graceful shutdown", "Cancel"):
        assert bad not in text, text
