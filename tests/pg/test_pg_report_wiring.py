"""The outgoing reports' data on a PostgreSQL configuration: the serve and
worker roots and the CLI use what the nodes share, never the data
directory's tlsrptresult.db or dmarceval.db."""

from __future__ import annotations

import datetime as dt
from contextlib import AsyncExitStack
from pathlib import Path

from click.testing import CliRunner
from test_pg_node_parts import _config

from pgcluster import Cluster
from postel.cli.main import cli
from postel.config import load_config
from postel.pg.dailyrun import PgDailyRuns
from postel.pg.reportparts import open_reports
from postel.pg.settings import PgSettings
from postel.tlsrptresultdb import AttemptResults
from postel.wiring import ServeRoot, WorkerRoot
from reportbackends import migrated

NOW = dt.datetime.now(dt.UTC)


def _migrated_config(tmp_path: Path, pg_cluster: Cluster, dbname: str) -> Path:
    migrated(pg_cluster, dbname)
    return _config(tmp_path / "config", pg_cluster, dbname)


async def test_serve_and_worker_roots_open_the_shared_report_data(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    from postel.tlsrpt.report import Policy, PolicyDetails, PolicyType, Summary

    cfg = load_config(_migrated_config(tmp_path, pg_cluster, pg_database))
    other = open_reports(pg_settings, "other-node")
    try:
        async with AsyncExitStack() as stack:
            root = await ServeRoot.open(cfg, stack)
            worker = await WorkerRoot.open_pg(cfg, stack)
            assert isinstance(root.daily_runs, PgDailyRuns)
            assert root.evaldb is not None and worker.evaluations is not None
            # What this node records, another node reads, and the reverse.
            policy = Policy(
                PolicyDetails(PolicyType.NO_POLICY_FOUND, [], "x.test", []), Summary(1, 0)
            )
            root.resultdb.add_attempt(AttemptResults("x.test", policy), send_report=True)
            assert [r.recipient_domain for r in other.results.rows()] == ["x.test"]
            other.evaluations.suppress("agg@y.test", NOW + dt.timedelta(days=1))
            assert root.evaldb.is_suppressed("agg@y.test")
            assert not root.resultdb.is_suppressed("agg@y.test")  # one list per kind
        assert not cfg.datadir.tlsrptresult_db.exists()
        assert not cfg.datadir.dmarceval_db.exists()
    finally:
        other.close()


def test_suppression_commands_act_on_the_shared_lists(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    d = str(_migrated_config(tmp_path, pg_cluster, pg_database))
    run = CliRunner().invoke
    added = run(cli, ["tlsrpt", "suppress", "add", "--config", d, "mailto:TLS@x.test"])
    assert added.exit_code == 0, added.output
    added = run(cli, ["dmarc", "suppress", "add", "--config", d, "agg@x.test"])
    assert added.exit_code == 0, added.output
    other = open_reports(pg_settings, "other-node")
    try:
        assert [s[0] for s in other.results.suppressions()] == ["tls@x.test"]
        assert [s[0] for s in other.evaluations.suppressions()] == ["agg@x.test"]
        other.evaluations.suppress("gone@y.test", NOW + dt.timedelta(days=1))
    finally:
        other.close()
    listed = run(cli, ["dmarc", "suppress", "list", "--config", d])
    assert listed.exit_code == 0 and "gone@y.test" in listed.output
    removed = run(cli, ["tlsrpt", "suppress", "remove", "--config", d, "tls@x.test"])
    assert removed.exit_code == 0, removed.output
    sent = run(cli, ["tlsrpt", "send", "--config", d, "--dry-run"])
    assert sent.exit_code == 0 and sent.output.strip() == "[]"
    data = Path(d) / "data"
    assert not (data / "tlsrptresult.db").exists() and not (data / "dmarceval.db").exists()


def test_the_smtp_recorder_stores_evaluations_in_the_shared_table(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    from postel.dmarcevaldb import EvalRecorder
    from postel.dmarcevaldb.record import Evaluation

    s = migrated(pg_cluster, pg_database)
    worker, sender = open_reports(s, "worker"), open_reports(s, "sender")
    try:
        recorder = EvalRecorder(tmp_path / "dmarceval.db", shared=worker.evaluations)
        e = Evaluation(
            received=NOW,
            policy_domain="z.test",
            header_from="z.test",
            source_ip="192.0.2.1",
            p="none",
            sp=None,
            adkim="r",
            aspf="r",
            pct=100,
            testing=False,
            disposition="none",
            dkim_aligned="fail",
            spf_aligned="pass",
        )
        for _ in range(3):
            recorder.add(e)
        recorder.close()
        stored = sender.evaluations.evaluations(policy_domain="z.test")
        assert [(x.header_from, x.spf_aligned) for x in stored] == [("z.test", "pass")] * 3
        assert not (tmp_path / "dmarceval.db").exists()
    finally:
        worker.close()
        sender.close()
