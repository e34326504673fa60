"""Debian's rspamd as a peer: one normal worker on a loopback port, started
from its own config directory (no controller, proxy or Lua rules, so no maps
fetched and no Redis; its DNS goes to a loopback port where nothing answers),
stopped with its process group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

CONFIG = """\
options {{
  pidfile = "{dir}/rspamd.pid";
  # GTUBE's variants for the other actions (YJS: add header, ZJS: rewrite subject).
  enable_test_patterns = true;
  dns {{ nameserver = ["127.0.0.1:9"]; timeout = 0.5s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "{dir}/rspamd.log"; level = "info"; }}
worker "normal" {{ bind_socket = "{ip}:{port}"; count = 1; }}
actions {{ reject = 15; add_header = 6; greylist = 4; }}
"""


class RspamdPeerError(Exception):
    pass


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _pong(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1) as s:
            s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            s.settimeout(2)
            return b"pong" in s.recv(4096)
    except OSError:
        return False


@contextlib.contextmanager
def rspamd_peer(workdir: Path, ip: str = "127.0.0.1", start_timeout: float = 90) -> Iterator[str]:
    """Run rspamd until the block ends; yields its URL (http://ip:port)."""
    exe = shutil.which("rspamd")
    if exe is None:
        raise RspamdPeerError("rspamd is not installed (Debian package rspamd)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port(ip)
    conf = workdir / "rspamd.conf"
    conf.write_text(CONFIG.format(dir=workdir, ip=ip, port=port))
    cmd = [exe, "-f", "-c", str(conf)]
    for var in ("DBDIR", "RUNDIR", "LOGDIR"):
        cmd.append(f"--var={var}={workdir}")
    if os.geteuid() == 0:
        cmd += ["-u", "root", "-g", "root", "-i"]
    out = (workdir / "stdout.log").open("wb")
    env = {**os.environ, "TMPDIR": str(workdir)}
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not _pong(ip, port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "rspamd.log").read_text(errors="replace")[-2000:]
                raise RspamdPeerError(f"rspamd did not start on {ip}:{port}: {log}")
            time.sleep(0.3)
        yield f"http://{ip}:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()
