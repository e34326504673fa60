"""Wiring to a configuration: the daily loop of a running server, the queue
adapter, and the evaluation of one message as stored."""

from __future__ import annotations

import datetime as dt
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from dmarcsend_data import STATIC

from postel.auth import AuthResults
from postel.auth.dmarc.record import parse_record
from postel.auth.results import DKIMResult, DMARCResult, SPFResult
from postel.config import load_config
from postel.dmarcevaldb import evaluation_from_results
from postel.dmarcsend.service import QueueEnqueue, start_daily_reports
from postel.dns.mock import MockResolver
from postel.queue import QueueDB
from postel.tlsrptsend.service import adding_submitter


async def test_disabled_starts_nothing(config_dir: Path) -> None:
    (config_dir / "postel.toml").write_text(
        STATIC.replace("[reports]", "[reports]\nno_outgoing_dmarc_reports = true")
    )
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    with ExitStack() as closing:
        submitter = adding_submitter(cfg, closing)
        async with AsyncExitStack() as stack:
            assert await start_daily_reports(cfg, MockResolver({}), stack, submitter) is None


async def test_loop_started_and_stopped(config_dir: Path) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    with ExitStack() as closing:
        submitter = adding_submitter(cfg, closing)
        async with AsyncExitStack() as stack:
            loop = await start_daily_reports(cfg, MockResolver({}), stack, submitter)
            assert loop is not None and loop._task is not None
            assert loop._task.get_name() == "dmarcsend"
        assert loop._task is None


async def test_queue_enqueue_adds_dmarc_report(config_dir: Path) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    closing = ExitStack()
    submitter = adding_submitter(cfg, closing)
    msg = b"From: <reports@example.org>\r\nTo: <d@remote.example>\r\nSubject: x\r\n\r\nbody\r\n"
    try:
        await QueueEnqueue(submitter, cfg.datadir.tmp)(
            "reports@example.org", "d@remote.example", msg
        )
    finally:
        closing.close()
    db = QueueDB.open(cfg.datadir)
    try:
        (entry,) = db.entries()
    finally:
        db.close()
    assert entry.rcpt == "d@remote.example" and entry.msg.is_dmarc_report
    assert not entry.msg.is_tlsrpt and not entry.msg.requiretls
    assert entry.max_attempts <= 5  # few attempts for reports


def _results(result: str, policy: str, record: str, **kw: bool) -> AuthResults:
    rec = parse_record(record)
    return AuthResults(
        SPFResult("fail", "bounce.sender.example"),
        [DKIMResult("fail", "sender.example", "s1")],
        DMARCResult(
            result,  # type: ignore[arg-type]
            policy=policy,  # type: ignore[arg-type]
            from_domain="news.sender.example",
            org_domain="sender.example",
            rua=list(rec.rua),
            pct=rec.pct,
            testing=rec.testing,
            record_domain="sender.example",
            record=rec,
            **kw,
        ),
    )


def test_evaluation_of_a_message() -> None:
    when = dt.datetime(2026, 3, 14, 12, tzinfo=dt.UTC)
    record = "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:a@b.c"
    res = _results("fail", "quarantine", record)
    ev = evaluation_from_results(
        res, disposition="accept", source_ip="192.0.2.1", mail_from="x@bounce.sender.example",
        received=when,
    )  # fmt: skip
    assert ev is not None
    assert (ev.policy_domain, ev.header_from, ev.envelope_from) == (
        "sender.example",
        "news.sender.example",
        "bounce.sender.example",
    )
    assert (ev.p, ev.sp, ev.pct, ev.disposition) == ("reject", "quarantine", 50, "none")
    assert ev.reasons == ["sampled_out"]  # a failing message got less than quarantine
    assert (ev.dkim_aligned, ev.spf_aligned) == ("fail", "fail")
    assert [(d.domain, d.selector, d.result) for d in ev.dkim] == [("sender.example", "s1", "fail")]
    assert ev.spf is not None and (ev.spf.scope, ev.spf.result) == ("mfrom", "fail")
    testing = _results("fail", "reject", "v=DMARC1; p=reject; t=y; rua=mailto:a@b.c")
    ev = evaluation_from_results(
        testing, disposition="junk", source_ip="192.0.2.1", mail_from="", received=when
    )
    assert ev is not None and ev.disposition == "quarantine"
    assert ev.reasons == ["policy_test_mode"] and ev.envelope_from == ""
    # No rua: no report wants it, nothing is stored.
    quiet = _results("pass", "reject", "v=DMARC1; p=reject", aligned_dkim=True)
    assert (
        evaluation_from_results(
            quiet, disposition="accept", source_ip="192.0.2.1", mail_from="", received=when
        )
        is None
    )
