"""What compiling the junk classifier's pure modules with mypyc buys
(bench/NOTES.md, junk filter, "A compiled classifier, measured").

    python bench/junk_mypyc.py build DIR      # a compiled copy of HEAD in DIR
    python bench/junk_mypyc.py inproc DIR [--pairs 3]
    python bench/junk_mypyc.py servers DIR [--pairs 3] [--seconds 3]

`build`: `git archive HEAD` into DIR, the corpus cache copied, and
MODULES compiled in place by `mypyc` (DIR/src/postel/junk/*.so next to the
.py files, which Python's import then skips). One change is made to the
copy first: postel.junk.cache.TellingCache is kept an ordinary Python class
(`@mypyc_attr(native_class=False)`), since the process's caches are held by
weak references and a native class of this mypyc has none.

`inproc`: this tree (pure) and DIR (compiled) alternately, each in its own
process on the same junk.db, trained on the first 1813 corpus messages
(bench/junk_accuracy.py): the later messages filed twice with
JunkFilter.file (the digest of every (target, score, reasons)), then, warm,
the thread CPU time of the features, the lookups and combine, and of
JunkFilter._signals as a whole, per message.

`servers`: bench/inbound_junk.py's three servers (filter off, untrained,
trained) of both trees side by side, six servers, each round loading all
six for --seconds in an order rotated each round, the trees alternating;
the CPU per message of each as a ratio to its own tree's "off" of the same
round. Checks that each compiled server's processes mapped the compiled
modules (/proc/PID/maps).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MODULES = ("tokens", "keys", "tokenindex", "classify", "cache")
ACCOUNT = "user"


def build(dest: Path) -> None:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    shutil.copy2(Path(__file__), dest / "bench" / Path(__file__).name)
    shutil.copytree(REPO / ".cache" / "junkbench", dest / ".cache" / "junkbench")
    cache = dest / "src" / "postel" / "junk" / "cache.py"
    text = cache.read_text()
    for old, new in (
        ("from collections.abc import Callable, Iterable\n",
         "from collections.abc import Callable, Iterable\n\n"
         "from mypy_extensions import mypyc_attr\n"),
        ("class TellingCache:\n", "@mypyc_attr(native_class=False)\nclass TellingCache:\n"),
    ):  # fmt: skip
        if old not in text:
            sys.exit(f"junk_mypyc: {cache}: {old.strip()!r} not found")
        text = text.replace(old, new, 1)
    cache.write_text(text)
    paths = [f"postel/junk/{m}.py" for m in MODULES]
    subprocess.run([str(VENV_BIN / "mypyc"), *paths], cwd=dest / "src", check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def _tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src")}


# -- in process ----------------------------------------------------------------


def worker(db_dir: Path, train: bool) -> dict[str, Any]:
    """Run inside the tree measured (its src first on sys.path)."""
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(REPO / "src"))
    from inbound_junk import TRAIN_FRACTION
    from junk_accuracy import corpus, fetch

    import postel.junk.tokenindex as ti
    from postel.junk.classify import combine
    from postel.junk.decide import Thresholds
    from postel.junk.filter import JunkFilter, Prepared, Settings, _head_features, _header, _subject
    from postel.junk.reputation import Verified
    from postel.junk.tokens import features
    from postel.store.bodytext import body_text

    messages = corpus(fetch())
    first = int(len(messages) * TRAIN_FRACTION)
    if train:
        (db_dir / ACCOUNT).mkdir(parents=True)
        jf = JunkFilter(db_dir, Settings(thresholds=Thresholds()), None)
        for m in messages[:first]:
            jf.train(ACCOUNT, m.data, Verified(), spam=m.spam)
        jf.close()
        return {"trained": first}
    work = Path(tempfile.mkdtemp(prefix="postel-junkmypyc-"))
    try:
        shutil.copytree(db_dir, work / "accounts")
        jf = JunkFilter(work / "accounts", Settings(thresholds=Thresholds()), None)
        later = [m.data for m in messages[first:]]
        digest = hashlib.sha256()

        async def file_all() -> None:
            for data in later:
                f = await jf.file(ACCOUNT, data, Verified())
                digest.update(repr((f.target, f.score, f.reasons)).encode())

        asyncio.run(file_all())  # cold, then warm
        asyncio.run(file_all())
        clock = time.thread_time
        texts = []
        t0 = clock()
        for data in later:
            texts.append(body_text(data))
        text_s = clock() - t0
        head_s = feats_s = look_s = comb_s = 0.0
        for data, text in zip(later, texts, strict=True):
            t0 = clock()
            parsed = _header(data)
            args = (_subject(parsed), text, _head_features(parsed))
            t1 = clock()
            feats = features(*args)
            t2 = clock()
            with jf._db(ACCOUNT) as db:
                db.totals()
                telling = db.telling(feats)
            t3 = clock()
            combine(telling)
            t4 = clock()
            head_s += t1 - t0
            feats_s += t2 - t1
            look_s += t3 - t2
            comb_s += t4 - t3
        least = Thresholds().min_trained
        t0 = clock()
        for data, text in zip(later, texts, strict=True):
            jf._signals(ACCOUNT, Prepared(data, text), Verified(), least)
        signals_s = clock() - t0
        jf.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(later)
    return {
        "module": ti.__file__,
        "messages": n,
        "digest": digest.hexdigest(),
        "body_text_ms": round(text_s * 1000 / n, 3),
        "header_ms": round(head_s * 1000 / n, 3),
        "tokens_ms": round(feats_s * 1000 / n, 3),
        "lookups_ms": round(look_s * 1000 / n, 3),
        "combine_ms": round(comb_s * 1000 / n, 3),
        "signals_ms": round(signals_s * 1000 / n, 3),
    }


def _run_worker(tree: Path, db_dir: Path, train: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, str(tree / "bench" / Path(__file__).name), "worker", str(db_dir)]
    out = subprocess.run([*cmd, *(["--train"] if train else [])], check=True,
                         capture_output=True, text=True, env=_tree_env(tree))  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def inproc(compiled: Path, pairs: int) -> None:
    db_dir = Path(tempfile.mkdtemp(prefix="postel-junkmypyc-db-")) / "accounts"
    try:
        _run_worker(REPO, db_dir, train=True)
        for i in range(pairs):
            order = [("pure", REPO), ("compiled", compiled)]
            for name, tree in order if i % 2 == 0 else order[::-1]:
                load = round(os.getloadavg()[0], 2)
                r = _run_worker(tree, db_dir)
                print(json.dumps({"tree": name, "load": load, **r}), flush=True)
    finally:
        shutil.rmtree(db_dir.parent, ignore_errors=True)


# -- servers -------------------------------------------------------------------


def _maps_compiled(pids: list[int], tree: Path) -> set[str]:
    """The compiled modules of *tree* that the processes *pids* mapped."""
    where = f"{tree / 'src' / 'postel' / 'junk'}/"
    found: set[str] = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        found.update(m for m in MODULES if f"{where}{m}.cpython" in maps)
    return found


def servers(compiled: Path, pairs: int, seconds: float) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from benchlib import dns_stub, make_certs, tmpdir
    from inbound_junk import CONFIGS, TRAIN_FRACTION, _stuffed, instance, load
    from junk_accuracy import corpus, fetch
    from junk_rounds import round_order, slice_bounds

    messages = corpus(fetch())
    first = int(len(messages) * TRAIN_FRACTION)
    later = [_stuffed(m.data) for m in messages[first:]]
    slices = slice_bounds(len(later), pairs + 1)
    root = tmpdir("postel-bench-junkmypyc-")
    certs = make_certs(root / "certs")
    trees = {"pure": REPO, "compiled": compiled}
    names = [f"{t}-{c}" for c in CONFIGS for t in trees]  # the trees alternate
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with dns_stub() as dns_port:
        systems = {}
        for n in names:
            t, c = n.split("-", 1)
            # instance() configures and trains by the name: one directory per tree.
            p = instance(root / t, c, certs, dns_port, messages[:first])
            p.env = {"PYTHONPATH": str(trees[t] / "src")}
            systems[n] = p
        try:
            for p in systems.values():
                p.start()
            for rnd, (lo, hi) in enumerate(slices):
                for n in round_order(names, rnd):
                    start_load = round(os.getloadavg()[0], 2)
                    r = load(systems[n], 1.0 if rnd == 0 else seconds, later[lo:hi])
                    if rnd == 0:
                        t = n.split("-", 1)[0]
                        mapped = _maps_compiled(systems[n].pids(), compiled)
                        print(f"  {n}: compiled modules mapped: {sorted(mapped)}")
                        # With the filter off the junk modules are not imported.
                        if not n.endswith("-off") and ("tokens" in mapped) != (t == "compiled"):
                            sys.exit(f"junk_mypyc: {n}: compiled modules mapped: {mapped}")
                        continue
                    r["load"] = start_load
                    runs[n].append(r)
                    print(f"  {n} round {rnd}: {r['rate']} msg/s, {r['cpu_ms']} ms/msg, "
                          f"load {start_load}", flush=True)  # fmt: skip
        finally:
            for p in systems.values():
                p.stop()
    shutil.rmtree(root, ignore_errors=True)
    for t in trees:
        for c in ("untrained", "trained"):
            pairs_ = list(zip(runs[f"{t}-{c}"], runs[f"{t}-off"], strict=True))
            cpu = [r["cpu_ms"] / o["cpu_ms"] for r, o in pairs_]
            rate = [r["rate"] / o["rate"] for r, o in pairs_]
            print(f"{t} {c}: CPU of off {[round(x, 2) for x in cpu]} "
                  f"(median {statistics.median(cpu):.2f}), rate of off "
                  f"{[round(x, 2) for x in rate]} "
                  f"(median {statistics.median(rate):.2f})")  # fmt: skip
        off = [r["cpu_ms"] for r in runs[f"{t}-off"]]
        print(f"{t} off: CPU {off} ms/msg")
    for c in CONFIGS:
        pairs_ = list(zip(runs[f"compiled-{c}"], runs[f"pure-{c}"], strict=True))
        ratio = [round(r["cpu_ms"] / o["cpu_ms"], 2) for r, o in pairs_]
        print(f"{c}: compiled CPU per message of pure, per round {ratio}")
    print(f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("dir", type=Path)
    w = sub.add_parser("worker")
    w.add_argument("db", type=Path)
    w.add_argument("--train", action="store_true")
    i = sub.add_parser("inproc")
    i.add_argument("dir", type=Path)
    i.add_argument("--pairs", type=int, default=3)
    s = sub.add_parser("servers")
    s.add_argument("dir", type=Path)
    s.add_argument("--pairs", type=int, default=3)
    s.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    if a.cmd == "build":
        build(a.dir.resolve())
    elif a.cmd == "worker":
        print(json.dumps(worker(a.db, a.train)))
    elif a.cmd == "inproc":
        inproc(a.dir.resolve(), a.pairs)
    else:
        servers(a.dir.resolve(), a.pairs, a.seconds)


if __name__ == "__main__":
    main()
