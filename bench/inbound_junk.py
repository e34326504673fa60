"""The junk filter's cost on inbound acceptance (issue 23 item 5): postel's
side of (a) with the filter off (`[junk] enabled = false`), on for an
untrained account, and on for an account trained on the first 30 % of the
SpamAssassin corpus of bench/junk_accuracy.py (1813 messages, as the user
would train them), back to back.

Load: bench/loadclient.py, 10 clients, one message per connection, no TLS;
the messages are the later 70 % of the same corpus (real text for the
tokenizer; dot-stuffed), or with --synthetic loadclient's own 5 KB messages.
The three `postel serve` run side by side (idle but for the one loaded);
each configuration runs --repeat times for --seconds, in turn, after one
warm-up run of 1 s of each; the median rate is reported with every rate.
Also the CPU time (user + system) of each server's processes per accepted
message: less moved by the other work on a shared machine than the rates.

    python bench/inbound_junk.py [--seconds 3] [--repeat 3] [--synthetic] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import IP, PostelInstance, dns_stub, make_certs, tmpdir
from junk_accuracy import corpus, fetch
from loadclient import run_load

from postel.junk.filter import JunkFilter, Settings
from postel.junk.reputation import Verified

CLIENTS = 10
CONFIGS = ("off", "untrained", "trained")
TRAIN_FRACTION = 0.3


def _stuffed(data: bytes) -> bytes:
    """RFC 5321 §4.5.2 transparency, CRLF at the end."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes *pids* so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
    return total / tick


def load(p: PostelInstance, seconds: float, payloads: list[bytes] | None) -> dict[str, Any]:
    pids = p.pids()
    cpu = cpu_seconds(pids)
    res = asyncio.run(
        run_load(
            IP,
            p.port,
            concurrency=CLIENTS,
            seconds=seconds,
            size=5120,
            id_prefix=f"junk-{time.monotonic_ns()}",
            payloads=payloads,
        )
    )
    out: dict[str, Any] = res.summary()
    out["cpu_ms"] = round((cpu_seconds(pids) - cpu) * 1000 / max(1, int(out["messages"])), 2)
    return out


def instance(
    root: Path, name: str, certs: Any, dns_port: int, corpus_train: list[Any]
) -> PostelInstance:
    p = PostelInstance(root / name, certs, dns_port)
    p.write_config()
    if name == "off":
        with open(p.root / "postel.toml", "a") as f:
            f.write("\n[junk]\nenabled = false\n")
    if name == "trained":
        # Start once so the data directory exists, then train as the user would.
        p.start()
        p.stop()
        jf = JunkFilter(p.data / "accounts", Settings(), None)
        (p.data / "accounts" / "bench").mkdir(parents=True, exist_ok=True)
        for m in corpus_train:
            jf.train("bench", m.data, Verified(), spam=m.spam)
        jf.close()
    return p


def run(
    seconds: float = 3.0,
    repeat: int = 3,
    synthetic: bool = False,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The three configurations side by side, *repeat* rounds of *seconds*
    each after a warm-up round; per configuration the median rate and CPU
    per message with every run (and the load average at each run's start),
    and both as a ratio to "off"."""
    messages = corpus(fetch())
    first = int(len(messages) * TRAIN_FRACTION)
    payloads = None if synthetic else [_stuffed(m.data) for m in messages[first:]]
    root = tmpdir("postel-bench-junk-")
    certs = make_certs(root / "certs")
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    with dns_stub() as dns_port:
        systems = {c: instance(root, c, certs, dns_port, messages[:first]) for c in CONFIGS}
        try:
            for p in systems.values():
                p.start()
            for rnd in range(repeat + 1):
                for name, p in systems.items():
                    start_load = round(os.getloadavg()[0], 2)
                    r = load(p, 1.0 if rnd == 0 else seconds, payloads)
                    r["load"] = start_load
                    if rnd:  # round 0: warm-up, not counted
                        runs[name].append(r)
                        shown = ("rate", "cpu_ms", "p99_ms", "rejected", "errors", "load")
                        progress(f"  junk {name} {json.dumps({k: r[k] for k in shown})}")
        finally:
            for p in systems.values():
                p.stop()
    out: dict[str, Any] = {"clients": CLIENTS, "seconds": seconds, "repeat": repeat,
                           "synthetic": synthetic, "trained_on": first}  # fmt: skip
    for name, rs in runs.items():
        rates = sorted(float(r["rate"]) for r in rs)
        cpus = sorted(float(r["cpu_ms"]) for r in rs)
        out[name] = {"median_rate": rates[len(rates) // 2], "rates": [r["rate"] for r in rs],
                     "median_cpu_ms": cpus[len(cpus) // 2], "runs": rs}  # fmt: skip
    base = out["off"]["median_rate"]
    base_cpu = out["off"]["median_cpu_ms"]
    for name in CONFIGS:
        out[name]["rate_ratio"] = round(out[name]["median_rate"] / base, 2) if base else None
        cpu = out[name]["median_cpu_ms"]
        out[name]["cpu_ratio"] = round(cpu / base_cpu, 2) if base_cpu else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true", help="loadclient's 5 KB messages")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    out = run(a.seconds, a.repeat, a.synthetic)
    for name in CONFIGS:
        c = out[name]
        print(f"{name}: {c['median_rate']:.1f} msg/s ({c['rate_ratio']} of off), runs "
              f"{c['rates']}; server CPU {c['median_cpu_ms']:.2f} ms/msg "
              f"({c['cpu_ratio']} of off)")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
