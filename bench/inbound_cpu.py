"""CPU per inbound message: postel and Postfix, same load, alternating.

On a machine whose two CPUs are shared with other work, a system's rate
follows the CPU it spends per message more than anything else. This runs
`--count` messages through each system from bench/loadclient.py (one
message per connection, `--clients` at once, 5 KB), alternating `--repeat`
times, and reads the CPU time of each system's processes from /proc (user +
system, of the live processes and of the children they reaped): Postfix's
master and everything under it (smtpd, cleanup, qmgr, discard, postlogd),
postel's main process and its SMTP workers. Prints milliseconds of CPU and
of wall time per message, and the load average.

    python bench/inbound_cpu.py [--clients 1] [--count 300] [--repeat 3] [--tls]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import time
from pathlib import Path

from benchlib import (
    IP,
    PostelInstance,
    PostfixInstance,
    dns_stub,
    free_port,
    make_certs,
    tmpdir,
)
from loadclient import run_load

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime + cutime + cstime of *pids*, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / TICK


def one(
    pids: list[int], port: int, clients: int, count: int, tls: bool, ca: Path
) -> tuple[float, float]:
    ctx = ssl.create_default_context(cafile=str(ca))
    before = cpu_seconds(pids)
    t0 = time.monotonic()
    res = asyncio.run(
        run_load(
            IP,
            port,
            concurrency=clients,
            count=count,
            size=5120,
            starttls=tls,
            tls_context=ctx,
            id_prefix=f"cpu-{time.monotonic_ns()}",
        )
    )
    wall = time.monotonic() - t0
    n = len(res.acked)
    return (cpu_seconds(pids) - before) * 1000 / n, wall * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    root = tmpdir("postel-bench-cpu-")
    certs = make_certs(root / "certs")
    out: dict[str, list[tuple[float, float]]] = {"postel": [], "postfix": []}
    with dns_stub() as dns_port:
        postel = PostelInstance(root / "postel", certs, dns_port)
        postfix = PostfixInstance(free_port(), certs, root=root / "postfix")
        try:
            postel.start()
            postfix.inbound()
            for _ in range(a.repeat):
                # Postfix's queue manager and discard(8) work after the 250:
                # its CPU is read once its queue is empty again.
                p_pids = postfix.pids()
                before = cpu_seconds(p_pids)
                _, wall = one([], postfix.port, a.clients, a.count, a.tls, certs.ca)
                postfix.wait_until_queue_empty(120)
                spent = (cpu_seconds(postfix.pids()) - before) * 1000 / a.count
                out["postfix"].append((spent, wall))
                out["postel"].append(
                    one(postel.pids(), postel.port, a.clients, a.count, a.tls, certs.ca)
                )
        finally:
            postel.stop()
            postfix.cleanup()
    print(
        f"clients {a.clients}, {a.count} messages of 5 KB per run, TLS {'on' if a.tls else 'off'}"
    )
    print(f"load average: {os.getloadavg()}")
    for name, runs in out.items():
        cpu = [r[0] for r in runs]
        wall = [r[1] for r in runs]
        cpus = ", ".join(f"{c:.2f}" for c in cpu)
        walls = ", ".join(f"{w:.2f}" for w in wall)
        print(f"{name}: CPU ms/message {cpus} (median {statistics.median(cpu):.2f})")
        print(f"{name}: wall ms/message {walls} (median {statistics.median(wall):.2f})")


if __name__ == "__main__":
    main()
