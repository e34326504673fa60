"""Several `postel serve` nodes on one PostgreSQL, and the SQLite default
beside them: inbound and outbound rate, CPU per message.

One private PostgreSQL 15 cluster (tests/pgcluster.py, PostgreSQL's default
fsync and synchronous_commit, 127.0.0.1). Each configuration gets a fresh
database (or, for SQLite, a fresh data directory) and runs real `postel
serve` processes, each node on its own loopback address (127.0.0.11, .12,
.13; the SQLite server on 127.0.0.21), SMTP workers as configured
(--workers, 0: postel's automatic count), junk filter and outgoing reports
off (the junk filter does not run on PostgreSQL yet).

Per configuration, in this order:

- outbound: --messages messages of 5 KB for --domains recipient domains (10) are queued
  and put on hold while the nodes are stopped; the nodes start; then
  `postel queue retry --all` releases them and the rate is measured from the
  first message leaving the queue to the queue being empty. Receivers:
  Postfix's smtp-sink on 127.0.1.1 and up (bench/outbound.py's receivers, MX
  from bench/dnsstub.py).
- inbound: --clients SMTP clients (bench/loadclient.py, one message of 5 KB
  per connection, no TLS) spread round-robin over the nodes' addresses for
  --seconds, after a one-second warm-up; every message is stored in the
  account's Inbox (SPF/DKIM/DMARC checked against the DNS stub).

CPU: user + system seconds of each node's processes (the main process and
its SMTP workers, from /proc) and of the PostgreSQL server's processes,
over the measured interval, divided by the messages handled. The
configurations alternate in each round (the order rotates), so that they see
the same load of this shared machine.

"delivered" counts the messages the nodes handed to the receivers (their
logs' 250s): more than --messages means some went out twice.
--compare-src DIR adds the PostgreSQL setups once more with the postel of
another source tree (e.g. `git archive BASE src | tar -x -C DIR/..`), for
before/after in the same run.

    PYTHONPATH=src python bench/pg_nodes.py [--nodes 1,2,3] [--rounds 2]
        [--messages 300] [--seconds 5] [--clients 10] [--workers 0]
        [--compare-src DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    DOMAINS_TOML,
    IP,
    POSTEL_TOML,
    REPO,
    Certs,
    descendants,
    dns_stub,
    free_port,
    make_certs,
    tmpdir,
    wait_port,
)
from loadclient import make_message, run_load
from outbound import measure, receiver

sys.path.insert(0, str(REPO / "tests"))

from pgcluster import Cluster, running_cluster

DOMAINS = 10  # recipient domains of the outbound messages (--domains)
SQLITE_IP = "127.0.0.21"
START_TIMEOUT = 60.0
SRC = str(REPO / "src")

# Besides benchlib's POSTEL_TOML: no outgoing reports, no junk filter.
EXTRA = """
[reports]
no_outgoing_tls_reports = true
no_outgoing_dmarc_reports = true

[junk]
enabled = false
"""

STORAGE = """
[storage]
backend = "postgresql"
dsn = "{dsn}"
password_file = "pgpassword"
node_id = "{node}"
queue_lease = 10  # bounds the wait for claims whose outcome was lost
"""


def _postel(*args: str) -> list[str]:
    return [sys.executable, "-m", "postel", *args]


def _env(src: str = SRC) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of *pids* (gone ones count 0)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Node:
    root: Path
    ip: str
    port: int
    src: str = SRC  # the postel source tree this node runs
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.root / "serve.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            _postel("serve", "--config", str(self.root)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(self.src),
            start_new_session=True,
        )
        log.close()

    def deliveries(self) -> int:
        """Messages this node handed to a receiver (its log's 250s)."""
        log = (self.root / "serve.log").read_text(errors="replace")
        return sum(
            1
            for line in log.splitlines()
            if 'm="delivery attempt done"' in line and "code=250" in line
        )

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)] if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@dataclass
class Setup:
    """One configuration: SQLite (one server) or N nodes on one database."""

    name: str
    nodes: list[Node]
    queued: Callable[[], int]  # entries left in the queue
    stored: Callable[[], int]  # messages in the account's mailboxes
    server_cpu: Callable[[], float] = lambda: 0.0
    close: Callable[[], None] = lambda: None


def _write_config(
    root: Path,
    ip: str,
    certs: Certs,
    dns_port: int,
    sink_port: int,
    workers: int,
    storage: str = "",
) -> Node:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = POSTEL_TOML.format(
        ip=ip,
        dns_ip=IP,  # bench/dnsstub.py
        port=port,
        dns_port=dns_port,
        cert=certs.cert,
        key=certs.key,
        ca=certs.ca,
        smtp_port=sink_port,
        max_connections=2000,
        log_level="info",
        smtp_workers=workers,
    )
    (root / "postel.toml").write_text(text + EXTRA + storage)
    (root / "domains.toml").write_text(DOMAINS_TOML)
    return Node(root, ip, port)


def _messages(n: int, domains: int) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        rcpt = f"rcpt@d{i % domains}.sink.test"
        yield (
            rcpt,
            make_message(
                f"out-{i}-{time.monotonic_ns()}@bench.test", 5120, rcpt, "sender@bench.test"
            ),
        )


def sqlite_setup(
    root: Path,
    certs: Certs,
    dns_port: int,
    sink_port: int,
    workers: int,
    messages: int,
    domains: int = DOMAINS,
) -> Setup:
    """One SQLite server with *messages* held in its queue."""
    from postel.config import load_config
    from postel.queue import SQLiteQueueEntries

    node = _write_config(root, SQLITE_IP, certs, dns_port, sink_port, workers)
    cfg = load_config(root)
    cfg.datadir.ensure()
    real = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]  # filling is not measured
    try:
        entries = SQLiteQueueEntries(cfg.datadir)
        for rcpt, data in _messages(messages, domains):
            entries.add("bench", "sender@bench.test", [rcpt], data, max_attempts=10)
        entries.close()
    finally:
        os.fsync = real
    queue_db = root / "data" / "queue" / "index.db"
    with sqlite3.connect(queue_db) as c:
        c.execute("UPDATE entry SET hold = 1")
    os.sync()

    def queued() -> int:
        with sqlite3.connect(f"file:{queue_db}?mode=ro", uri=True) as c:
            return int(c.execute("SELECT count(*) FROM entry").fetchone()[0])

    def stored() -> int:
        db = root / "data" / "accounts" / "bench" / "index.db"
        if not db.exists():
            return 0
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return int(c.execute("SELECT count(*) FROM message").fetchone()[0])

    return Setup("sqlite", [node], queued, stored)


def pg_setup(
    cluster: Cluster,
    dbname: str,
    root: Path,
    n: int,
    certs: Certs,
    dns_port: int,
    sink_port: int,
    workers: int,
    messages: int,
    src: str = SRC,
    label: str = "",
    domains: int = DOMAINS,
) -> Setup:
    """*n* nodes (running the postel of *src*) on a fresh database with
    *messages* held in the shared queue."""
    import psycopg

    from postel.pg.queue import PgQueueEntries
    from postel.pg.settings import PgSettings

    with cluster.admin() as conn:
        conn.execute(f"CREATE DATABASE {dbname} OWNER postel_test")
    dsn = cluster.dsn(dbname, with_password=False)
    nodes = []
    for i in range(n):
        storage = STORAGE.format(dsn=dsn, node=f"node-{i}")
        node = _write_config(
            root / f"node{i}", f"127.0.0.{11 + i}", certs, dns_port, sink_port, workers, storage
        )
        (node.root / "pgpassword").write_text(cluster.password + "\n")
        node.src = src
        nodes.append(node)
    migrated = subprocess.run(
        _postel("config", "migrate-db", "--config", str(nodes[0].root)),
        capture_output=True,
        text=True,
        env=_env(src),
        timeout=120,
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"migrate-db: {migrated.stdout}{migrated.stderr}")
    settings = PgSettings(dsn=dsn, password=cluster.password)
    entries = PgQueueEntries(settings, root / "fill-spool", node="bench-fill")
    try:
        for rcpt, data in _messages(messages, domains):
            entries.add("bench", "sender@bench.test", [rcpt], data, max_attempts=10)
    finally:
        entries.close()
    # One connection for the bench's polling (a new backend per poll would cost the server).
    conn = psycopg.connect(cluster.dsn(dbname), autocommit=True)
    conn.execute("UPDATE queue_entry SET hold = true")

    def count(query: str) -> int:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(str(row[0]))

    return Setup(
        f"pg x{n}{label}",
        nodes,
        lambda: count("SELECT count(*) FROM queue_entry"),
        lambda: count("SELECT count(*) FROM message"),
        cluster.server_cpu,
        close=conn.close,
    )


def start(setup: Setup) -> None:
    for node in setup.nodes:
        node.start()
    for node in setup.nodes:
        assert node.proc is not None
        try:
            wait_port(node.port, START_TIMEOUT, ip=node.ip)
        except RuntimeError:
            log = (node.root / "serve.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{setup.name}: node on {node.ip} did not start:\n{log}") from None
    time.sleep(1.0)  # start-up work (recovery passes, first claims) settles


def snapshot(setup: Setup) -> tuple[list[float], float]:
    return [cpu_seconds(n.pids()) for n in setup.nodes], setup.server_cpu()


def cpu_per_message(
    setup: Setup, before: tuple[list[float], float], messages: int
) -> dict[str, Any]:
    nodes, server = snapshot(setup)
    per_node = [(a - b) / max(messages, 1) * 1000 for a, b in zip(nodes, before[0], strict=True)]
    return {
        "node_cpu_ms": [round(x, 2) for x in per_node],
        "postel_cpu_ms": round(sum(per_node), 2),
        "server_cpu_ms": round((server - before[1]) / max(messages, 1) * 1000, 2),
    }


def outbound(setup: Setup, messages: int) -> dict[str, Any]:
    before = snapshot(setup)
    load = os.getloadavg()[0]
    # The queue is polled while the CLI releases it: the first message gone starts the clock.
    release = subprocess.Popen(
        _postel("queue", "retry", "--all", "--config", str(setup.nodes[0].root)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    res = measure(setup.queued, messages, timeout=max(120.0, messages / 5))
    said = release.communicate(timeout=60)[0]
    if release.returncode != 0:
        raise RuntimeError(f"queue retry: {said.decode(errors='replace')}")
    res.update(cpu_per_message(setup, before, messages))
    res["deliveries"] = sum(node.deliveries() for node in setup.nodes)
    res["load"] = round(load, 2)
    return res


async def _spread(setup: Setup, clients: int, seconds: float, prefix: str) -> list[Any]:
    """*clients* clients, client i on node i mod N."""
    shares = [clients // len(setup.nodes)] * len(setup.nodes)
    for i in range(clients % len(setup.nodes)):
        shares[i] += 1
    return list(
        await asyncio.gather(
            *(
                run_load(
                    node.ip,
                    node.port,
                    concurrency=share,
                    seconds=seconds,
                    size=5120,
                    id_prefix=f"{prefix}-{i}",
                )
                for i, (node, share) in enumerate(zip(setup.nodes, shares, strict=True))
                if share
            )
        )
    )


def inbound(setup: Setup, clients: int, seconds: float) -> dict[str, Any]:
    asyncio.run(_spread(setup, clients, 1.0, f"warm-{time.monotonic_ns()}"))
    stored_before = setup.stored()
    before = snapshot(setup)
    load = os.getloadavg()[0]
    results = asyncio.run(_spread(setup, clients, seconds, f"in-{time.monotonic_ns()}"))
    acked = sum(len(r.acked) for r in results)
    elapsed = max(r.elapsed for r in results)
    res: dict[str, Any] = {
        "messages": acked,
        "seconds": round(elapsed, 3),
        "rate": round(acked / elapsed, 1),
        "errors": sum(r.errors + r.rejected for r in results),
        "p50_ms": round(sorted(x for r in results for x in r.latencies)[acked // 2] * 1000, 1)
        if acked
        else None,
    }
    res.update(cpu_per_message(setup, before, acked))
    res["stored"] = setup.stored() - stored_before
    res["load"] = round(load, 2)
    return res


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = tmpdir("postel-bench-pgnodes-")
    certs = make_certs(root / "certs")
    names = ["sqlite", *(f"pg{n}" for n in args.nodes)]
    if args.compare_src:
        names += [f"pg{n}b" for n in args.nodes]
    out: dict[str, Any] = {"load_before": os.getloadavg(), "rounds": []}
    with (
        dns_stub() as dns_port,
        receiver(False, certs, args.domains) as (sink_port, _),
        running_cluster(durable=True) as cluster,
    ):
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                where = root / f"r{r}-{name}"
                if name == "sqlite":
                    setup = sqlite_setup(
                        where, certs, dns_port, sink_port, args.workers, args.messages, args.domains
                    )
                else:
                    before = name.endswith("b")
                    setup = pg_setup(
                        cluster,
                        f"bench_r{r}_{name}",
                        where,
                        int(name[2:].rstrip("b")),
                        certs,
                        dns_port,
                        sink_port,
                        args.workers,
                        args.messages,
                        src=str(args.compare_src) if before else SRC,
                        label=" (compare)" if before else "",
                        domains=args.domains,
                    )
                try:
                    start(setup)
                    cell = {
                        "round": r,
                        "setup": setup.name,
                        "outbound": outbound(setup, args.messages),
                        "inbound": inbound(setup, args.clients, args.seconds),
                    }
                finally:
                    for node in setup.nodes:
                        node.stop()
                    setup.close()
                out["rounds"].append(cell)
                print(json.dumps(cell), flush=True)
    out["load_after"] = os.getloadavg()
    return out


def table(out: dict[str, Any]) -> str:
    lines = [
        "| setup | round | inbound msg/s | postel CPU ms/msg (per node) | server CPU ms/msg "
        "| outbound msg/s | postel CPU ms/msg (per node) | server CPU ms/msg | delivered "
        "| load in, out |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for c in sorted(out["rounds"], key=lambda c: (c["setup"], c["round"])):
        i, o = c["inbound"], c["outbound"]
        lines.append(
            f"| {c['setup']} | {c['round']} | {i['rate']} | {i['postel_cpu_ms']} "
            f"({' / '.join(map(str, i['node_cpu_ms']))}) | {i['server_cpu_ms']} "
            f"| {o.get('rate', o.get('error'))} | {o['postel_cpu_ms']} "
            f"({' / '.join(map(str, o['node_cpu_ms']))}) | {o['server_cpu_ms']} "
            f"| {o['deliveries']} | {i['load']}, {o['load']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", default="1,2,3", help="node counts on PostgreSQL")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--messages", type=int, default=300, help="outbound messages a setup")
    ap.add_argument("--seconds", type=float, default=5.0, help="inbound load a setup")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--domains", type=int, default=DOMAINS, help="outbound recipient domains")
    ap.add_argument("--workers", type=int, default=0, help="[limits] smtp_workers of each node")
    ap.add_argument(
        "--compare-src",
        type=Path,
        help="also run the PostgreSQL setups with the postel of this source tree (before/after)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.nodes = [int(n) for n in args.nodes.split(",")]
    out = run(args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    print(table(out))
    print(f"load average before {out['load_before']}, after {out['load_after']}")


if __name__ == "__main__":
    main()
