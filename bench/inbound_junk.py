"""The junk filter's cost on inbound acceptance (issue 23 item 5).

postel's side of (a) with the filter off (`[junk] enabled = false`), on for
an untrained account, and on for an account trained on the first 30 % of
the SpamAssassin corpus of bench/junk_accuracy.py (1813 messages, as the
user would train them), back to back. With --base REV a fourth server: the
postel of git revision REV (`git archive`, its own `src` on PYTHONPATH, the
same venv), configured as "off" but for the `[junk]` section, which a
revision from before the filter rejects (its config forbids unknown keys):
"today's" rate that the filter's cost is held against (issue 23 was filed
at 320e638, the commit before the filter's first, 90f36db).

Load: bench/loadclient.py, 10 clients, one message per connection, no TLS;
the messages are the later 70 % of the same corpus (real text for the
tokenizer; dot-stuffed), or with --synthetic loadclient's own 5 KB messages.
The servers run side by side (idle but for the one loaded). Each round
loads every server once for --seconds, in an order rotated by one each
round; round 0 is a warm-up of 1 s, not counted, then --repeat rounds.
Each round (the warm-up too) sends its own slice of the corpus messages:
the later 70 % cut into repeat + 1 consecutive slices, the same slice for
every server of a round, so that no round meets a feature cache warmed by
the same messages in an earlier round (a run that gets through its whole
slice starts it again). The median rate is reported with every rate. Also
the CPU time (user + system) of each server's processes per accepted
message: less moved by the other work on a shared machine than the rates.
Both medians also as a ratio to "off" and, with --base, to the base server.

    python bench/inbound_junk.py [--seconds 3] [--repeat 3] [--synthetic]
        [--base REV] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import IP, REPO, VENV_BIN, PostelInstance, dns_stub, make_certs, tmpdir
from junk_accuracy import corpus, fetch
from junk_rounds import round_order, slice_bounds, summarize
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


class BaseTreeError(RuntimeError):
    """The --base revision could not be checked out or does not run."""


def base_tree(rev: str, dest: Path) -> tuple[str, Path]:
    """The postel of git revision *rev* of this repository, extracted into
    *dest* with `git archive`; its short commit hash and its `src`."""
    git = ["git", "-C", str(REPO)]
    found = subprocess.run([*git, "rev-parse", "--short", f"{rev}^{{commit}}"],
                           capture_output=True, text=True)  # fmt: skip
    if found.returncode:
        raise BaseTreeError(f"--base {rev}: not a commit of {REPO}: {found.stderr.strip()}")
    short = found.stdout.strip()
    dest.mkdir(parents=True)
    tar = dest.with_suffix(".tar")
    subprocess.run([*git, "archive", "--format=tar", "-o", str(tar), short], check=True)
    subprocess.run(["tar", "-x", "-f", str(tar), "-C", str(dest)], check=True)
    tar.unlink()
    src = dest / "src"
    # The venv's postel is an editable install of a checkout: PYTHONPATH
    # must win over it, or the "base" would be today's code.
    where = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import postel; print(postel.__file__)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)},
    )  # fmt: skip
    if not where.stdout.strip().startswith(str(src)):
        raise BaseTreeError(f"--base {rev}: postel imports from {where.stdout.strip() or '?'} "
                            f"with PYTHONPATH={src}: {where.stderr.strip()[-300:]}")  # fmt: skip
    return short, src


def base_instance(root: Path, certs: Any, dns_port: int, src: Path) -> PostelInstance:
    """The base server: the config of "off" without its `[junk]` section."""
    p = PostelInstance(root / "base", certs, dns_port, env={"PYTHONPATH": str(src)})
    p.write_config()
    return p


def run(
    seconds: float = 3.0,
    repeat: int = 3,
    synthetic: bool = False,
    progress: Callable[[str], None] = print,
    base: str | None = None,
) -> dict[str, Any]:
    """The configurations side by side (and the postel of git revision
    *base* with it), *repeat* rounds of *seconds* each after a warm-up
    round, each round on its own slice of the corpus; per server the
    median rate and CPU per message with every run (and the load average
    at each run's start), and both as a ratio to "off" (and to "base")."""
    messages = corpus(fetch())
    first = int(len(messages) * TRAIN_FRACTION)
    later = [_stuffed(m.data) for m in messages[first:]]
    slices = slice_bounds(len(later), repeat + 1)
    root = tmpdir("postel-bench-junk-")
    certs = make_certs(root / "certs")
    runs: dict[str, list[dict[str, Any]]] = {}
    names = [*(["base"] if base else []), *CONFIGS]
    try:
        base_rev, src = base_tree(base, root / "base-tree") if base else (None, None)
    except BaseTreeError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    with dns_stub() as dns_port:
        systems = {c: instance(root, c, certs, dns_port, messages[:first]) for c in CONFIGS}
        if src is not None:
            systems = {"base": base_instance(root, certs, dns_port, src), **systems}
        try:
            for name, p in systems.items():
                try:
                    p.start()
                except RuntimeError:
                    if name != "base":
                        raise
                    last = " | ".join(p.log_tail(3).splitlines()) or "no log"
                    raise BaseTreeError(f"postel at {base_rev} (--base {base}) did not start "
                                        f"in {p.root}: {last}") from None  # fmt: skip
            for rnd, (lo, hi) in enumerate(slices):
                payloads = None if synthetic else later[lo:hi]
                for name in round_order(names, rnd):
                    start_load = round(os.getloadavg()[0], 2)
                    r = load(systems[name], 1.0 if rnd == 0 else seconds, payloads)
                    r["load"] = start_load
                    r["slice"] = [lo, hi]
                    if rnd:  # round 0: warm-up, not counted
                        runs.setdefault(name, []).append(r)
                        shown = ("rate", "cpu_ms", "p99_ms", "rejected", "errors", "load")
                        progress(f"  junk {name} {json.dumps({k: r[k] for k in shown})}")
        finally:
            for p in systems.values():
                p.stop()
    shutil.rmtree(root, ignore_errors=True)  # kept when a run failed: its logs say why
    out: dict[str, Any] = {"clients": CLIENTS, "seconds": seconds, "repeat": repeat,
                           "synthetic": synthetic, "trained_on": first,
                           "slices": None if synthetic else slices,
                           "order": "rotated"}  # fmt: skip
    if base_rev:
        out["base_rev"] = base_rev
    out.update(summarize({n: runs[n] for n in names}, ["off", *(["base"] if base else [])]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true", help="loadclient's 5 KB messages")
    ap.add_argument("--base", metavar="REV",
                    help="also the postel of this git revision, configured as off")  # fmt: skip
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    try:
        out = run(a.seconds, a.repeat, a.synthetic, base=a.base)
    except BaseTreeError as exc:
        sys.exit(f"inbound_junk: {exc}")
    for name in (["base"] if a.base else []) + list(CONFIGS):
        c = out[name]
        of_base = f", {c['rate_ratio_base']} of base" if a.base else ""
        cpu_of_base = f", {c['cpu_ratio_base']} of base" if a.base else ""
        print(f"{name}: {c['median_rate']:.1f} msg/s ({c['rate_ratio']} of off{of_base}), "
              f"runs {c['rates']}; server CPU {c['median_cpu_ms']:.2f} ms/msg "
              f"({c['cpu_ratio']} of off{cpu_of_base})")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
