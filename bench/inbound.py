"""(a) Inbound acceptance: postel and a private Postfix, side by side.

For each cell (clients 1/10/100, message 5 KB/100 KB, STARTTLS off/on) both
systems get the same load for a few seconds from bench/loadclient.py (one
message per connection, latency MAIL -> 250 after DATA), and, without TLS,
also from Postfix's smtp-source (which has no STARTTLS) for throughput.

postel: `postel serve`, incoming SMTP, SPF/DKIM/DMARC verified (DNS via a
local stub, bench/dnsstub.py), the message stored in the account's Inbox:
file fsynced, directory fsynced, index row committed (WAL, synchronous=FULL)
before the 250. Postfix: smtpd -> cleanup writes and fsyncs the queue file
before the 250, then qmgr hands it to discard(8). Both log every message.

Each cell runs each system three times (--repeat), alternating, after a
warm-up of both; the run with the median rate is reported, with all rates.

    python bench/inbound.py [--seconds 3] [--repeat 3] [--quick] [--json out.json]
    python bench/inbound.py --clients 1000 --size 5120 --repeat 1 --seconds 5   # (k) scale

Limits at 1000 clients: this process raises its open-file limit to the hard
limit (each client is a socket here, and the servers it starts inherit it);
postel's bench config has [limits] max_connections = 2000 (each SMTP process)
and max_connections_per_ip does not count loopback (connection_limit_exempt's
default); Postfix's has default_process_limit = 1200 (smtpd processes) and
smtpd_client_connection_count_limit = 0 (bench/benchlib.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

from benchlib import (
    IP,
    SMTP_SOURCE,
    PostelInstance,
    PostfixInstance,
    dns_stub,
    free_port,
    make_certs,
    tmpdir,
)
from loadclient import run_load

CONCURRENCY = (1, 10, 100)
WARMUP_SECONDS = 1.0
SIZES = (5 * 1024, 100 * 1024)


def smtp_source_cmd(port: int, clients: int, count: int, size: int) -> list[str]:
    return [
        SMTP_SOURCE,
        "-s", str(clients),
        "-m", str(count),
        "-l", str(size),
        "-f", "sender@client.test",
        "-t", "rcpt@bench.test",
        "-M", "client.test",
        f"{IP}:{port}",
    ]  # fmt: skip


def run_smtp_source(port: int, clients: int, count: int, size: int) -> dict[str, Any]:
    cmd = smtp_source_cmd(port, clients, count, size)
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - t0
    return {
        "messages": count,
        "seconds": round(elapsed, 3),
        "rate": round(count / elapsed, 1),
        "ok": done.returncode == 0 and "warning" not in done.stderr,
        "stderr": done.stderr[-300:],
    }


def postel_stored(p: PostelInstance) -> int:
    db = p.data / "accounts" / "bench" / "index.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM message").fetchone()[0])


def load(port: int, clients: int, seconds: float, size: int, tls: bool, ca: Path) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(ca))
    res = asyncio.run(
        run_load(
            IP,
            port,
            concurrency=clients,
            seconds=seconds,
            size=size,
            starttls=tls,
            tls_context=ctx,
            id_prefix=f"in-{clients}-{size}-{int(tls)}-{time.monotonic_ns()}",
        )
    )
    return res.summary()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the upper one of two), with every rate seen."""
    ordered = sorted(runs, key=lambda r: float(r["rate"]))
    pick = dict(ordered[len(ordered) // 2])
    pick["rates"] = [r["rate"] for r in runs]
    return pick


def run(
    seconds: float = 3.0,
    quick: bool = False,
    clients_list: tuple[int, ...] | None = None,
    sizes: tuple[int, ...] | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    root = tmpdir("postel-bench-in-")
    certs = make_certs(root / "certs")
    cells: list[dict[str, Any]] = []
    commands: dict[str, str] = {}
    concurrency = clients_list or ((1, 10) if quick else CONCURRENCY)
    with dns_stub() as dns_port:
        postel = PostelInstance(root / "postel", certs, dns_port)
        postfix = PostfixInstance(free_port(), certs, root=root / "postfix")
        try:
            postel.start()
            postfix.inbound()
            systems = {"postel": postel.port, "postfix": postfix.port}
            acked_postel = 0
            stored_before = postel_stored(postel)
            # Warm-up, not counted: both systems start their processes, fill
            # caches and load what they load on first use.
            for name, port in systems.items():
                r = load(port, 10, WARMUP_SECONDS, 5120, False, certs.ca)
                if name == "postel":
                    acked_postel += int(r["messages"])
            postfix.wait_until_queue_empty(120)
            for clients in concurrency:
                for size in sizes or SIZES:
                    for tls in (False, True):
                        cell: dict[str, Any] = {"clients": clients, "size": size, "tls": tls}
                        runs: dict[str, list[dict[str, Any]]] = {}
                        # Each system `repeat` times, alternating; the median run is
                        # reported (this VM's figures move by +-20 % between runs).
                        for _ in range(repeat):
                            for name, port in systems.items():
                                r = load(port, clients, seconds, size, tls, certs.ca)
                                runs.setdefault(name, []).append(r)
                                if name == "postel":
                                    acked_postel += int(r["messages"])
                                if not tls:
                                    count = max(50, int(float(r["rate"]) * seconds))
                                    runs.setdefault(f"{name}_smtp_source", []).append(
                                        run_smtp_source(port, clients, count, size)
                                    )
                                    if name == "postel":
                                        acked_postel += count
                                if name == "postfix":
                                    postfix.wait_until_queue_empty(120)
                        for key, rs in runs.items():
                            cell[key] = median_run(rs)
                        cells.append(cell)
                        print(json.dumps(cell), flush=True)
            stored = postel_stored(postel) - stored_before
            commands["smtp-source"] = " ".join(smtp_source_cmd(25, 10, 1000, 5120)).replace(
                f"{IP}:25", "127.0.0.1:PORT"
            )
            commands["loadclient"] = (
                "python bench/loadclient.py --port PORT -c CLIENTS --seconds "
                f"{seconds:g} --size SIZE [--starttls]"
            )
            return {
                "cells": cells,
                "commands": commands,
                "postel_acked": acked_postel,
                "postel_stored": stored,
                "seconds": seconds,
                "repeat": repeat,
                "warmup_seconds": WARMUP_SECONDS,
            }
        finally:
            postel.stop()
            postfix.cleanup()


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; the new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="1 and 10 clients only")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--clients", type=int, action="append", help="only these client counts")
    ap.add_argument("--size", type=int, action="append", help="only these sizes (bytes)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per system and cell (median)")
    a = ap.parse_args()
    raise_file_limit()
    out = run(
        a.seconds,
        a.quick,
        tuple(a.clients) if a.clients else None,
        tuple(a.size) if a.size else None,
        a.repeat,
    )
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    print(f"postel: {out['postel_acked']} messages acknowledged, {out['postel_stored']} stored")


if __name__ == "__main__":
    main()
