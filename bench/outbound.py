"""(b) Outbound delivery from the queue, postel and Postfix side by side.

N messages (5 KB) for recipients in --domains domains (default 10,
d0..d9.sink.test) are put in the queue while delivery is held, then delivery
starts and the rate is measured from the first message leaving the queue to
the queue being empty. Each domain is its own destination with a receiving
address from dnsstub.dest_ip (127.0.1.1 to 127.0.1.250, one port; beyond 250
domains, domains dN and dN+250 share an address, the same for both systems).
Without TLS the receivers are Postfix's smtp-sink, one process per address;
with TLS bench/sink.py listening on the addresses (smtp-sink has no STARTTLS),
offering STARTTLS with one certificate of the bench's own CA (trustme,
ECDSA P-256), the same for both clients.

postel: messages added with postel.queue's entry store while `postel serve` is
stopped, then `postel serve` starts; DNS (MX of dN.sink.test -> mxN.sink.test
-> 127.0.1.N+1, no DNSSEC, no MTA-STS) from bench/dnsstub.py, port from
[delivery] smtp_port; TLS is opportunistic (the sink's certificate is not
checked, no policy). Postfix: messages sent in with smtp-source while
`defer_transports = smtp relay` holds them, then defer_transports is removed,
`postfix reload` and `postqueue -f`; transport_maps with one entry per domain
(`dN.sink.test smtp:[127.0.1.N+1]:PORT`, Postfix's destination is the
next hop), smtp_tls_security_level none or may, other settings Postfix's
defaults (default_destination_concurrency_limit 20, connection cache on
demand, smtp_tls_connection_reuse no).

With --baseline SRC, postel is also run from another source tree (e.g. a
`git archive` of an older commit: its src/) in each cell, --rounds pairs in
alternating order (baseline first, then current first), Postfix after them:
before/after measured side by side in one run.

With --alternate N (what bench/run-all does), each cell runs postel and
Postfix N times each in alternating order (P F F P P F for 3) on fresh
instances, with the load average at each run's start, and reports each
system's median rate with every run's rate.

    python bench/outbound.py [--messages 600] [--domains 10] [--tls both|off|on]
                             [--baseline DIR/src] [--alternate N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchlib import (
    IP,
    REPO,
    SMTP_SINK,
    SMTP_SOURCE,
    PostelInstance,
    PostfixInstance,
    dns_stub,
    free_port,
    make_certs,
    tmpdir,
    wait_port,
)
from dnsstub import dest_ip
from loadclient import make_message
from runall_doc import alternating_order, median_rate

DOMAINS = 10
FILL_PARALLEL = 8  # smtp-source processes at once while filling Postfix's queue


def nexthops(domains: int = DOMAINS) -> dict[str, str]:
    return {f"d{d}.sink.test": dest_ip(d) for d in range(domains)}


@contextlib.contextmanager
def receiver(tls: bool, certs: Any, domains: int = DOMAINS) -> Iterator[tuple[int, str]]:
    """Receivers on one port of each destination's address."""
    port = free_port()
    ips = sorted(set(nexthops(domains).values()))
    if tls:
        sink = [sys.executable, str(REPO / "bench" / "sink.py"), str(port)]
        cmds = [[*sink, "--cert", str(certs.cert), "--key", str(certs.key), "--ips", ",".join(ips)]]
        name = f"bench/sink.py (STARTTLS) on {len(ips)} addresses"
    else:
        cmds = [[SMTP_SINK, "-u", "postfix", "-c", f"{ip}:{port}", "1000"] for ip in ips]
        name = f"smtp-sink, one per address ({len(ips)})"
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cmd in cmds
    ]
    try:
        for ip in ips:
            wait_port(port, ip=ip)
        yield port, name
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(5)


def measure(remaining: Callable[[], int], total: int, timeout: float = 300) -> dict[str, Any]:
    """Poll the queue size: rate from the first message gone to the queue empty."""
    deadline = time.monotonic() + timeout
    t0 = None
    start_left = total
    while time.monotonic() < deadline:
        left = remaining()
        now = time.monotonic()
        if t0 is None and left < total:
            t0, start_left = now, left
        if left == 0:
            assert t0 is not None
            if start_left == 0:  # emptied between two polls: nothing timed
                return {"messages": total,
                        "error": "queue emptied between two polls (too few messages)"}  # fmt: skip
            elapsed = max(now - t0, 1e-3)
            done = total if start_left == total else start_left
            return {"messages": total, "seconds": round(elapsed, 3),
                    "rate": round(done / elapsed, 1)}  # fmt: skip
        time.sleep(0.02)
    return {"messages": total, "error": f"queue not empty after {timeout}s ({remaining()} left)"}


def fill_postel(p: PostelInstance, n: int, domains: int = DOMAINS) -> None:
    """Queue *n* messages through the entry store while postel is stopped
    (fsync off while filling: not measured)."""
    from postel.config import load_config
    from postel.queue import SQLiteQueueEntries

    cfg = load_config(p.root)
    cfg.datadir.ensure()
    real = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        entries = SQLiteQueueEntries(cfg.datadir)
        for i in range(n):
            rcpt = f"rcpt@d{i % domains}.sink.test"
            message = make_message(f"out-{i}@bench.test", 5120, rcpt, "sender@bench.test")
            entries.add("bench", "sender@bench.test", [rcpt], message, max_attempts=10)
        entries.close()
    finally:
        os.fsync = real
    os.sync()


def postel_left(p: PostelInstance) -> int:
    with sqlite3.connect(f"file:{p.data / 'queue' / 'index.db'}?mode=ro", uri=True) as c:
        return int(c.execute("SELECT count(*) FROM entry").fetchone()[0])


def fill_postfix(pf: PostfixInstance, n: int, domains: int = DOMAINS) -> None:
    """*n* messages in through Postfix's smtpd, one smtp-source per domain
    (up to FILL_PARALLEL at once)."""
    per = n // domains
    todo = list(range(domains))
    running: list[subprocess.Popen[bytes]] = []
    while todo or running:
        while todo and len(running) < FILL_PARALLEL:
            d = todo.pop(0)
            running.append(subprocess.Popen(
                [SMTP_SOURCE, "-s", "5", "-m", str(per), "-l", "5120", "-f", "sender@bench.test",
                 "-t", f"rcpt@d{d}.sink.test", "-M", "client.test", f"{IP}:{pf.port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        running[0].wait(300)
        if running[0].returncode != 0:
            raise RuntimeError(f"smtp-source exited with {running[0].returncode}")
        running.pop(0)
    deadline = time.monotonic() + 60 + n / 100
    while len(pf.queue_ids()) < per * domains and time.monotonic() < deadline:
        time.sleep(0.1)


def key_type(cert: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def run_postel(
    root: Path,
    certs: Any,
    dns_port: int,
    sink_port: int,
    messages: int,
    domains: int,
    timeout: float,
    src: Path | None = None,
) -> dict[str, Any]:
    """Fill postel's queue, start `postel serve` (from *src* when given) and
    measure until the queue is empty."""
    env = {"PYTHONPATH": str(src)} if src is not None else {}
    p = PostelInstance(root, certs, dns_port, smtp_port=sink_port, env=env)
    p.write_config()
    fill_postel(p, messages, domains)
    load = round(os.getloadavg()[0], 2)
    # Polled from the start: the queue may be empty before the SMTP port answers.
    p.start(wait=False)
    try:
        result = measure(lambda p=p: postel_left(p), messages, timeout)
        cpu = process_cpu(p.proc.pid) if p.proc is not None else None
    finally:
        p.stop()
    extra = {} if cpu is None else {"main_cpu_s": round(cpu, 2)}
    return {**result, "load": load, **extra}


def process_cpu(pid: int) -> float | None:
    """User plus system CPU seconds of one process so far (Linux /proc), the
    main process only: it runs the queue and the deliveries."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_postfix(
    root: Path,
    certs: Any,
    sink_port: int,
    tls: bool,
    messages: int,
    domains: int,
    timeout: float,
) -> dict[str, Any]:
    """Fill a fresh Postfix's queue while delivery is deferred, release it
    and measure until the queue is empty."""
    pf = PostfixInstance(free_port(), certs, root=root)
    try:
        pf.outbound(sink_port, tls, defer=True, nexthops=nexthops(domains))
        fill_postfix(pf, messages, domains)
        load = round(os.getloadavg()[0], 2)
        pf.outbound_release(sink_port, tls)
        result = measure(lambda pf=pf: len(pf.queue_ids()), messages, timeout)
    finally:
        pf.cleanup()
    return {**result, "load": load}


def run_alternating(
    messages: int,
    domains: int = DOMAINS,
    tls_cells: tuple[bool, ...] = (False, True),
    rounds: int = 3,
    timeout: float | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Each cell: *rounds* runs of postel and of Postfix in the order of
    runall_doc.alternating_order (P F, F P, P F, ...), each run on a fresh
    instance against the cell's receivers, the load average recorded at each
    run's start; the median rate of each system with every run's rate."""
    root = tmpdir("postel-bench-out-")
    certs = make_certs(root / "certs")
    messages -= messages % domains
    if timeout is None:
        timeout = max(120.0, messages / 10)
    out: dict[str, Any] = {"messages": messages, "destinations": domains, "rounds": rounds,
                           "certificate": key_type(certs.cert), "cells": []}  # fmt: skip
    with dns_stub() as dns_port:
        for tls in tls_cells:
            order = alternating_order(rounds)
            cell: dict[str, Any] = {"tls": tls, "order": order, "postel_runs": [],
                                    "postfix_runs": []}  # fmt: skip
            with receiver(tls, certs, domains) as (sink_port, sink_name):
                cell["receiver"] = sink_name
                for i, system in enumerate(order):
                    where = root / f"{system}-{int(tls)}-{i}"
                    if system == "postel":
                        r = run_postel(where, certs, dns_port, sink_port, messages, domains,
                                       timeout)  # fmt: skip
                    else:
                        r = run_postfix(where, certs, sink_port, tls, messages, domains, timeout)
                    cell[f"{system}_runs"].append(r)
                    shown = r.get("rate", r.get("error"))
                    progress(f"  outbound {messages} msgs, {domains} domains, TLS "
                             f"{'on' if tls else 'off'}: {system} {shown} "
                             f"(load {r['load']})")  # fmt: skip
            cell["postel_median"] = median_rate(cell["postel_runs"])
            cell["postfix_median"] = median_rate(cell["postfix_runs"])
            out["cells"].append(cell)
    return out


def run(
    messages: int = 600,
    domains: int = DOMAINS,
    tls_cells: tuple[bool, ...] = (False, True),
    baseline: Path | None = None,
    rounds: int = 2,
) -> dict[str, Any]:
    root = tmpdir("postel-bench-out-")
    certs = make_certs(root / "certs")
    messages -= messages % domains
    timeout = max(300.0, messages / 20)
    out: dict[str, Any] = {"messages": messages, "destinations": domains,
                           "certificate": key_type(certs.cert), "cells": []}  # fmt: skip
    with dns_stub() as dns_port:
        for tls in tls_cells:
            cell: dict[str, Any] = {"tls": tls}
            with receiver(tls, certs, domains) as (sink_port, sink_name):
                cell["receiver"] = sink_name
                if baseline is not None:
                    # Alternating order (baseline first, then current first): a
                    # receiver that has served one run can be slower for the next.
                    cell["baseline"] = str(baseline)
                    cell["postel_baseline"], cell["postel_runs"] = [], []
                    for r in range(rounds):
                        order = [(baseline, "postel_baseline"), (None, "postel_runs")]
                        for src, key in order if r % 2 == 0 else order[::-1]:
                            cell[key].append(run_postel(
                                root / f"postel-{key}-{r}-{int(tls)}", certs, dns_port,
                                sink_port, messages, domains, timeout, src,
                            ))  # fmt: skip
                    cell["postel"] = cell["postel_runs"][-1]
                else:
                    cell["postel"] = run_postel(root / f"postel-{int(tls)}", certs, dns_port,
                                                sink_port, messages, domains, timeout)  # fmt: skip
                cell["load_postel"] = cell["postel"]["load"]
                cell["postfix"] = run_postfix(root / f"postfix-{int(tls)}", certs, sink_port,
                                              tls, messages, domains, timeout)  # fmt: skip
                cell["load_postfix"] = cell["postfix"]["load"]
            out["cells"].append(cell)
            print(json.dumps(cell), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=600)
    ap.add_argument("--domains", type=int, default=DOMAINS, help="recipient domains (1-1000)")
    ap.add_argument("--tls", choices=("both", "off", "on"), default="both")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path, help="src/ of another postel, measured beside")
    ap.add_argument("--rounds", type=int, default=2, help="baseline/current pairs per cell")
    ap.add_argument("--alternate", type=int, default=0, metavar="ROUNDS",
                    help="ROUNDS runs of each system per cell, alternating "
                    "(P F F P ...), medians reported (as bench/run-all)")  # fmt: skip
    a = ap.parse_args()
    cells = {"both": (False, True), "off": (False,), "on": (True,)}[a.tls]
    if a.alternate:
        out = run_alternating(a.messages, a.domains, cells, a.alternate)
        for c in out["cells"]:
            print(json.dumps({k: v for k, v in c.items() if not k.endswith("_runs")}))
    else:
        out = run(a.messages, a.domains, cells, a.baseline, a.rounds)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
