"""(c) Memory with 1000 idle SMTP connections, postel and Postfix.

Each connection reads the greeting, says EHLO and then waits. Memory is
summed over every process of the system (postel: the one `postel serve`
process; Postfix: master and all its children, one smtpd per connection):
RSS and PSS (proportional set size: shared pages divided among the processes
sharing them, the fair measure for Postfix's many processes), from
/proc/PID/smaps_rollup, before and with the connections open.

    python bench/memory.py [--connections 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import socket
import time
from pathlib import Path
from typing import Any

from benchlib import (
    IP,
    PostelInstance,
    PostfixInstance,
    dns_stub,
    free_port,
    make_certs,
    memory_kib,
    tmpdir,
)


def open_idle(port: int, n: int, timeout: float = 120) -> list[socket.socket]:
    socks: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    for _ in range(n):
        s = socket.create_connection((IP, port), 30)
        socks.append(s)
    # Greeting and EHLO on each (Postfix forks an smtpd per connection: slow start).
    for s in socks:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        buf = b""
        while b"\r\n" not in buf:
            buf += s.recv(512)
        s.sendall(b"EHLO client.test\r\n")
    for s in socks:
        buf = b""
        while b"\r\n250 " not in b"\r\n" + buf:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("connection closed")
            buf += chunk
    return socks


def measure(pids_fn: Any, port: int, n: int) -> dict[str, Any]:
    time.sleep(1)
    rss0, pss0 = memory_kib(pids_fn())
    socks = open_idle(port, n)
    try:
        time.sleep(2)
        pids = pids_fn()
        rss1, pss1 = memory_kib(pids)
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()
    return {
        "connections": n,
        "processes": len(pids),
        "rss_idle_mib": round(rss0 / 1024, 1),
        "pss_idle_mib": round(pss0 / 1024, 1),
        "rss_mib": round(rss1 / 1024, 1),
        "pss_mib": round(pss1 / 1024, 1),
        "pss_per_conn_kib": round((pss1 - pss0) / n, 1),
    }


def run(connections: int = 1000) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, connections * 3 + 200))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    root = tmpdir("postel-bench-mem-")
    certs = make_certs(root / "certs")
    out: dict[str, Any] = {}
    with dns_stub() as dns_port:
        p = PostelInstance(root / "postel", certs, dns_port, max_connections=connections + 100)
        try:
            p.start()
            out["postel"] = measure(p.pids, p.port, connections)
        finally:
            p.stop()
        pf = PostfixInstance(free_port(), certs, root=root / "postfix")
        try:
            pf.inbound()
            out["postfix"] = measure(pf.pids, pf.port, connections)
        finally:
            pf.cleanup()
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    out = run(a.connections)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
