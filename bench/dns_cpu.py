"""CPU time per lookup of postel.dns.resolver.DNSResolver against bench/dnsstub.py.

Each measurement runs in a child process with the given source tree first on
sys.path: ``--lookups`` distinct lookups (MX of dN.sink.test, A of
mxN.sink.test, TXT of _mta-sts.dN.sink.test: an answer, an answer and a
NODATA), ``--concurrency`` at once, no cache; it prints the process CPU time
and the wall time. With ``--baseline SRC`` the two trees are measured
alternately, ``--rounds`` times each. ``--profile`` prints cProfile's top
entries of one run of this tree instead.

Usage: dns_cpu.py [--lookups N] [--concurrency C] [--baseline SRC] [--rounds R] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from benchlib import dns_stub  # noqa: E402

CHILD = r"""
import asyncio, cProfile, json, pstats, sys, time
from postel.dns.errors import NotFound
from postel.dns.resolver import DNSResolver

port, lookups, concurrency, profile = (int(a) for a in sys.argv[1:5])
QUESTIONS = [("d{}.sink.test", "MX"), ("mx{}.sink.test", "A"), ("_mta-sts.d{}.sink.test", "TXT")]

async def main() -> None:
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=5.0)
    sem = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        name, rdtype = QUESTIONS[i % 3]
        async with sem:
            try:
                await resolver.lookup(name.format(i // 3), rdtype)
            except NotFound:
                pass
            except Exception:
                failed += 1

    await one(0)  # imports and first-use costs outside the measurement
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(3, lookups + 3)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    close = getattr(resolver, "aclose", None)
    if close is not None:
        await close()
    print(json.dumps({"cpu": cpu, "wall": wall, "failed": failed}))

if profile:
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(main())
    prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
else:
    asyncio.run(main())
"""


def run(src: Path, port: int, lookups: int, concurrency: int, profile: bool) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(port), str(lookups), str(concurrency), str(int(profile))],
        env=env,
        check=True,
        capture_output=not profile,
        text=True,
        timeout=300,
    )
    if profile:
        return {}
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookups", type=int, default=6000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--baseline", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    trees = [("this", REPO / "src")]
    if args.baseline is not None:
        trees.append(("baseline", args.baseline.resolve()))
    with dns_stub() as port:
        if args.profile:
            run(REPO / "src", port, args.lookups, args.concurrency, True)
            return
        for r in range(args.rounds):
            order = trees if r % 2 == 0 else trees[::-1]
            for label, src in order:
                res = run(src, port, args.lookups, args.concurrency, False)
                us = res["cpu"] / args.lookups * 1e6
                print(
                    f"round {r} {label:8} cpu/lookup {us:7.1f} us  "
                    f"lookups/s {args.lookups / res['wall']:8.0f}  failed {res['failed']:.0f}  "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
