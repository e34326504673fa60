"""Received reports and the MTA-STS policy cache shared by the nodes: a report
taken in through one node is listed by another node and by the CLI; a policy
one node fetched is used by another without fetching; the daily refresh of a
policy runs on one node; two nodes taking in copies of a report at once store
it once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from contextlib import AsyncExitStack
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner
from test_pg_node_parts import _config

from pgcluster import Cluster
from postel.cli.main import cli
from postel.config import load_config
from postel.dns import Resolver
from postel.dns.mock import MockResolver
from postel.mtasts.fetch import FetchResult
from postel.mtasts.policy import Mode, parse_policy
from postel.mtastsdb import PolicyCache, refresh_once
from postel.pg.mtastscache import PgMTASTSCache
from postel.pg.settings import PgSettings
from postel.pg.target import pg_target
from postel.reportintake import Status, intake
from postel.tlsrpt import DateRange, Policy, PolicyDetails, PolicyType, Report, Summary
from postel.wiring import ServeRoot
from receivedbackends import migrated, pg_mtasts, pg_node

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
ENFORCE = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n"
TESTING = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"


class CountingFetcher:
    """Serves *text* for every domain; counts fetches per domain (any thread)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[str] = []

    async def __call__(self, resolver: Resolver, domain: str) -> FetchResult:
        self.calls.append(domain)
        await asyncio.sleep(0.01)  # the other node runs meanwhile
        url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
        return FetchResult(url=url, ip="192.0.2.1", policy=parse_policy(self.text), text=self.text)


def sts_records(*domains: str, record_id: str = "1") -> MockResolver:
    return MockResolver({(f"_mta-sts.{d}", "TXT"): [f'"v=STSv1; id={record_id}"'] for d in domains})


def tls_report_mail() -> bytes:
    """A real TLS report of the test data, as a reporter mails it (RFC 8460 §5.3)."""
    msg = EmailMessage()
    msg["From"] = "reports@reporter.example"
    msg["To"] = "tlsrpt@company-y.example"
    msg["Subject"] = "Report Domain: company-y.example"
    msg.set_content("A report is attached.\n")
    raw = (TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()
    msg.add_attachment(raw, maintype="application", subtype="tlsrpt+json", filename="r.json")
    return bytes(msg)


async def test_reports_taken_in_by_one_node_are_listed_by_another_and_the_cli(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    migrated(pg_cluster, pg_database)
    conf = _config(tmp_path / "config", pg_cluster, pg_database)
    cfg = load_config(conf)
    cfg.datadir.ensure()
    tls = tmp_path / "tls.eml"
    tls.write_bytes(tls_report_mail())
    dmarc = TESTDATA / "dmarc" / "twilight.eml"
    # Node A: the SMTP side's intake (a child process) on the shared tables.
    target = pg_target(cfg)
    assert target is not None and target.password_file  # the file, never the password
    got = await intake(cfg.datadir, "tlsrpt", tls, "tlsrpt@company-y.example", pg=target)
    assert got.status is Status.STORED, got.error
    got = await intake(cfg.datadir, "dmarc", dmarc, "dmarc@twlnet.com", pg=target)
    assert got.status is Status.STORED, got.error
    assert not cfg.datadir.tlsrpt_db.exists() and not cfg.datadir.dmarcrpt_db.exists()
    # Node B: its own pool.
    b = pg_node(pg_settings)
    try:
        [report] = b.tls.list_reports().reports
        assert (report.organization, report.failures) == ("Company-X", 303)
        assert [r.report_id for r in b.dmarc.list_reports().reports] == ["1627703331531660819"]
    finally:
        b.close()
    # The CLI on a PostgreSQL configuration (any node).
    run = CliRunner().invoke
    listed = run(cli, ["tlsrpt", "list", "--config", str(conf), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["organization"] for r in json.loads(listed.output)["reports"]] == ["Company-X"]
    listed = run(cli, ["dmarc", "list", "--config", str(conf), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["report-id"] for r in json.loads(listed.output)["reports"]] == ["1627703331531660819"]


async def test_serve_root_shares_the_policy_cache_and_the_reports(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    migrated(pg_cluster, pg_database)
    cfg = load_config(_config(tmp_path / "config", pg_cluster, pg_database))
    other = pg_node(pg_settings)
    try:
        async with AsyncExitStack() as stack:
            root = await ServeRoot.open(cfg, stack)
            assert isinstance(root.mtastsdb, PgMTASTSCache) and root.received is not None
            # A policy this node fetched is used by the other node, unfetched.
            fetch = CountingFetcher(ENFORCE)
            first = await root.mtastsdb.get(sts_records("example.com"), "example.com", fetch=fetch)
            assert first.mode is Mode.ENFORCE and not first.cached
            unused = CountingFetcher(TESTING)
            found = await pg_mtasts(other, "b").get(
                sts_records("example.com"), "example.com", fetch=unused
            )
            assert found.cached and found.mode is Mode.ENFORCE and unused.calls == []
            # A report another node stored is the one this node's pages read.
            other.tls.add(
                Report(
                    "Org",
                    DateRange(T0, T0 + dt.timedelta(days=1)),
                    "ops@org",
                    "r1",
                    [Policy(PolicyDetails(PolicyType.STS, [], "example.com", []), Summary(1, 0))],
                )
            )
            assert root.received.tls.count() == 1
        assert not cfg.datadir.mtasts_db.exists()
    finally:
        other.close()


async def _seed(cache: PolicyCache, domains: list[str]) -> None:
    for d in domains:
        await cache.get(sts_records(d), d, now=T0, fetch=CountingFetcher(ENFORCE))


async def test_each_stale_policy_is_refreshed_by_one_node(
    pg_cluster: Cluster, pg_database: str
) -> None:
    """Two nodes' refreshers run at once: each policy is fetched once, by one of them."""
    s = migrated(pg_cluster, pg_database)
    a_pool, b_pool = pg_node(s), pg_node(s)
    a, b = pg_mtasts(a_pool, "a"), pg_mtasts(b_pool, "b")
    try:
        domains = [f"d{i}.example" for i in range(8)]
        await _seed(a, domains)
        fetch = CountingFetcher(TESTING)
        now = T0 + dt.timedelta(days=1)
        res = sts_records(*domains)
        sa, sb = await asyncio.gather(
            refresh_once(a, res, now=now, fetch=fetch),
            refresh_once(b, res, now=now, fetch=fetch),
        )
        assert sorted(fetch.calls) == domains  # one fetch per policy
        assert sorted(sa.refreshed + sb.refreshed) == domains
        assert all(r.policy.mode is Mode.TESTING and r.last_update == now for r in a.rows())
        # Refreshed: a later run that day has nothing to do on either node.
        again = CountingFetcher(TESTING)
        await refresh_once(b, res, now=now + dt.timedelta(hours=1), fetch=again)
        assert again.calls == []
    finally:
        a_pool.close()
        b_pool.close()


async def test_a_failed_refresh_is_not_retried_by_another_node_at_once(
    pg_cluster: Cluster, pg_database: str
) -> None:
    """The claim outlives a failed fetch (until its lease ends): the other node
    does not hammer a policy host that just failed."""
    from postel.mtasts.errors import PolicyFetchError

    s = migrated(pg_cluster, pg_database)
    a_pool, b_pool = pg_node(s), pg_node(s)
    a, b = pg_mtasts(a_pool, "a"), pg_mtasts(b_pool, "b")
    try:
        await _seed(a, ["down.example"])
        now = T0 + dt.timedelta(days=1)

        class Failing(CountingFetcher):
            async def __call__(self, resolver: Resolver, domain: str) -> FetchResult:
                self.calls.append(domain)
                raise PolicyFetchError("connection refused")

        failing = Failing(ENFORCE)
        stats = await refresh_once(a, sts_records("down.example"), now=now, fetch=failing)
        assert stats.failed == ["down.example"]
        other = CountingFetcher(TESTING)
        later = now + dt.timedelta(minutes=5)
        await refresh_once(b, sts_records("down.example"), now=later, fetch=other)
        assert other.calls == []
        # After the lease the next run (any node) tries again.
        await refresh_once(
            b, sts_records("down.example"), now=now + dt.timedelta(hours=2), fetch=other
        )
        assert other.calls == ["down.example"]
    finally:
        a_pool.close()
        b_pool.close()


def test_copies_taken_in_by_two_nodes_at_once_are_stored_once(
    pg_cluster: Cluster, pg_database: str
) -> None:
    s = migrated(pg_cluster, pg_database)
    nodes = [pg_node(s) for _ in range(2)]
    report = Report(
        "Org",
        DateRange(T0, T0 + dt.timedelta(days=1)),
        "ops@org",
        "same-id",
        [Policy(PolicyDetails(PolicyType.STS, [], "example.com", []), Summary(3, 1))],
    )
    barrier = threading.Barrier(len(nodes))
    results: list[bool] = []

    def take_in(i: int) -> None:
        barrier.wait(10)
        results.append(nodes[i].tls.add(report, to_rcpt=f"node{i}@example.com").duplicate)

    try:
        threads = [threading.Thread(target=take_in, args=(i,)) for i in range(len(nodes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == [False, True]
        assert nodes[0].tls.count() == 1 and nodes[1].tls.duplicate_count() == 1
    finally:
        for n in nodes:
            n.close()


def test_report_lists_without_the_database_say_so_in_one_line(
    tmp_path: Path, pg_cluster: Cluster
) -> None:
    conf = str(_config(tmp_path / "config", pg_cluster, "no_such_database"))
    for args in (["tlsrpt", "list"], ["tlsrpt", "show", "1"], ["dmarc", "list"]):
        got = CliRunner().invoke(cli, [*args, "--config", conf])
        assert got.exit_code == 1, got.output
        [line] = got.output.splitlines()
        assert line.startswith("error: PostgreSQL ") and "no_such_database" in line
