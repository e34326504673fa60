"""(d) Aggregating 1 million recorded TLS results into the daily reports.

Results of delivery attempts to 2,000 recipient domains (MTA-STS entries,
DANE entries for 500 MX hosts, 1 in 20 a failure) are:

1. recorded durably one by one with ResultDB.add_attempt (what the Deliverer
   does per attempt) for a sample, to give the cost per recorded result;
2. merged, all 1,000,000, with the same code add_attempt uses
   (rows_for_attempt + merge_row), and the merged rows stored;
3. turned into reports by tlsrptsend's ReportSender.send_day(dry_run=True):
   rows read, keys grouped, TLSRPT records looked up (an in-memory resolver),
   selections made and every report built (JSON, gzip); nothing is sent.

Postfix 3.7 has no TLSRPT: no comparison (Postfix 3.10 hands results to the
separate tlsrpt-reporter of the TLSRPT project).

    python bench/tlsrpt_agg.py [--results 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import tmpdir

from postel.dns.mock import MockResolver
from postel.tlsrpt.report import FailureDetails, Policy, PolicyDetails, PolicyType, Summary
from postel.tlsrptresultdb import AttemptResults, ResultDB, ResultRow, rows_for_attempt
from postel.tlsrptresultdb.record import merge_row
from postel.tlsrptsend.send import ReportSender, Settings

DOMAINS = 2000
HOSTS = 500


def attempt(i: int) -> AttemptResults:
    d = i % DOMAINS
    rd = f"r{d}.example"
    mx = f"mx{d % HOSTS}.hosting.example"
    failed = (i // DOMAINS + d) % 20 == 0  # every domain: 1 attempt in 20 fails
    summary = Summary(0, 1) if failed else Summary(1, 0)
    details = (
        [
            FailureDetails(
                "certificate-expired",
                "192.0.2.1",
                mx,
                receiving_ip="198.51.100.7",
                failed_session_count=1,
            )
        ]
        if failed
        else []
    )
    sts = Policy(
        PolicyDetails(
            PolicyType.STS,
            ["version: STSv1", "mode: enforce", f"mx: {mx}", "max_age: 604800"],
            rd,
            [mx],
        ),
        summary,
        details,
    )
    hosts = {}
    if d % 4 == 0:  # a quarter of the domains' MX hosts publish TLSA
        hosts[mx] = Policy(
            PolicyDetails(PolicyType.TLSA, ["3 1 1 0123456789abcdef"], mx), Summary(1, 0)
        )
    return AttemptResults(rd, sts, hosts)


def run(results: int = 1_000_000, sample: int = 2000) -> dict[str, Any]:
    root = tmpdir("postel-bench-tlsrpt-")
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    day = yesterday.date()
    out: dict[str, Any] = {"results": results, "domains": DOMAINS}

    # 1. Durable recording, one transaction per attempt.
    db = ResultDB.open(root / "sample.db")
    t0 = time.perf_counter()
    for i in range(sample):
        db.add_attempt(attempt(i), send_report=True, now=yesterday)
    t = time.perf_counter() - t0
    db.close()
    out["record_per_result_ms"] = round(t / sample * 1000, 3)
    out["record_rate"] = round(sample / t, 1)

    # 2. Merge 1M results with the recording code; store the merged rows.
    t0 = time.perf_counter()
    rows: dict[tuple[str, str], ResultRow] = {}
    for i in range(results):
        for row in rows_for_attempt(attempt(i), day, True):
            key = (row.policy_domain, row.recipient_domain)
            have = rows.get(key)
            rows[key] = row if have is None else merge_row(have, row)
    merge_s = time.perf_counter() - t0
    db = ResultDB.open(root / "tlsrptresult.db")
    t0 = time.perf_counter()
    by_rd: dict[str, AttemptResults] = {}
    for r in rows.values():
        a = by_rd.setdefault(r.recipient_domain, AttemptResults(r.recipient_domain))
        for p in r.results:
            if r.is_host:
                a.host_results[r.policy_domain] = p
            else:
                a.domain_result = p
    for a in by_rd.values():
        db.add_attempt(a, send_report=True, now=yesterday)
    store_s = time.perf_counter() - t0
    out["merge_seconds"] = round(merge_s, 2)
    out["merge_rate"] = round(results / merge_s, 0)
    out["rows"] = len(rows)
    out["store_rows_seconds"] = round(store_s, 2)

    # 3. The daily run: group, look up, select, build (dry run).
    records: dict[tuple[str, str], list[str]] = {}
    for pd in {r.policy_domain for r in rows.values()}:
        records[(f"_smtp._tls.{pd}", "TXT")] = [f'"v=TLSRPTv1; rua=mailto:tlsrpt@{pd}"']
    sender = ReportSender(
        db,
        MockResolver(records),
        Settings(hostname="mail.bench.test", dkim_domains=["bench.test"]),
        signer_for=lambda _d: None,
        enqueue=None,
        post=None,
        spread=False,
    )
    t0 = time.perf_counter()
    outcomes = asyncio.run(sender.send_day(day, dry_run=True))
    build_s = time.perf_counter() - t0
    db.close()
    out["reports"] = sum(1 for o in outcomes if o.status == "would-send")
    out["keys"] = len(outcomes)
    out["statuses"] = dict(Counter(o.status for o in outcomes))
    out["build_seconds"] = round(build_s, 2)
    out["total_seconds"] = round(merge_s + store_s + build_s, 2)
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    out = run(a.results)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
