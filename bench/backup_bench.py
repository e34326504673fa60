"""(e) `postel backup` and `postel verifydata` of a data dir with 100k messages,
against `cp -a` of the same dir.

The data dir is made first (not measured): 10 accounts with 10,000 messages
of 2-6 KB each, delivered through postel.store (fsync switched off while
generating, then one `sync`). Then, timed, each as its own process:

    postel backup --config CFG DEST1       (databases snapshotted, messages hard-linked)
    postel verifydata CFG/data             (every database, row and file checked)
    cp -a CFG/data DEST2                   (a plain full copy, for scale)

The page cache is warm for all three (the generator just wrote the files).

    python bench/backup_bench.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from benchlib import POSTEL, tmpdir

ACCOUNTS = 10

POSTEL_TOML = """\
hostname = "mail.bench.test"
postmaster_account = "a0"
"""


def domains_toml() -> str:
    out = ['[domains."bench.test"]\n']
    for i in range(ACCOUNTS):
        out.append(f'[accounts.a{i}]\ndomain = "bench.test"\naddresses = ["a{i}@bench.test"]\n')
    return "\n".join(out)


def generate(cfg_dir: Path, messages: int) -> None:
    from postel.config import load_config
    from postel.store import Store

    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "postel.toml").write_text(POSTEL_TOML)
    (cfg_dir / "domains.toml").write_text(domains_toml())
    cfg = load_config(cfg_dir)
    cfg.datadir.ensure()
    # postel.fsutil's file and directory syncs both end in os.fsync.
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        with Store(cfg.datadir) as store:
            accounts = [store.account(f"a{i}") for i in range(ACCOUNTS)]
            for acc in accounts:
                acc._conn.execute("PRAGMA synchronous = OFF")  # generation only
            for n in range(messages):
                size = 2000 + (n * 7919) % 4000
                body = (b"x" * 75 + b"\r\n") * (size // 77)
                data = (
                    f"From: s{n % 97}@sender.example\r\nTo: a{n % ACCOUNTS}@bench.test\r\n"
                    f"Subject: message {n}\r\nMessage-ID: <m{n}@sender.example>\r\n"
                    "Date: Thu, 26 Nov 2026 04:00:00 +0000\r\n\r\n"
                ).encode() + body
                mailbox = "Inbox" if n % 5 else "Archive"
                accounts[n % ACCOUNTS].deliver_bytes(mailbox, data)
    finally:
        os.fsync = real_fsync
    os.sync()


def timed(cmd: list[str]) -> dict[str, Any]:
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - t0
    return {
        "command": " ".join(cmd),
        "seconds": round(elapsed, 2),
        "exit": done.returncode,
        "tail": (done.stdout + done.stderr).strip().splitlines()[-1:] or [""],
    }


def du(path: Path) -> str:
    out = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout
    return out.split()[0] if out else "?"


def run(messages: int = 100_000) -> dict[str, Any]:
    root = tmpdir("postel-bench-backup-")
    cfg = root / "config"
    t0 = time.monotonic()
    generate(cfg, messages)
    out: dict[str, Any] = {"messages": messages}
    out["generate_seconds"] = round(time.monotonic() - t0, 1)
    data = cfg / "data"
    out["size"] = du(data)
    out["backup"] = timed([POSTEL, "backup", "--config", str(cfg), str(root / "backup")])
    out["verifydata"] = timed([POSTEL, "verifydata", str(data)])
    out["cp"] = timed(["cp", "-a", str(data), str(root / "copy")])
    out["backup_ratio_to_cp"] = round(out["backup"]["seconds"] / out["cp"]["seconds"], 2)
    out["verifydata_ratio_to_cp"] = round(out["verifydata"]["seconds"] / out["cp"]["seconds"], 2)
    subprocess.run(["rm", "-rf", str(root)], check=False)
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    out = run(a.messages)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
