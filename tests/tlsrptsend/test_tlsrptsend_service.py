"""Wiring to a configuration: the daily loop of a running server and the queue adapter."""

from __future__ import annotations

import datetime as dt
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from tlsrptsend_data import STATIC

from postel.config import load_config
from postel.dns.mock import MockResolver
from postel.queue import QueueDB
from postel.tlsrptresultdb import ResultDB
from postel.tlsrptsend.service import QueueEnqueue, adding_submitter, start_daily_reports


async def test_disabled_starts_nothing(config_dir: Path) -> None:
    (config_dir / "postel.toml").write_text(
        STATIC.replace("[reports]", "[reports]\nno_outgoing_tls_reports = true")
    )
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    with ExitStack() as closing:
        submitter = adding_submitter(cfg, closing)
        async with AsyncExitStack() as stack:
            assert await start_daily_reports(cfg, MockResolver({}), stack, submitter, None) is None


async def test_loop_started_and_stopped(config_dir: Path) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    with ExitStack() as closing:
        submitter = adding_submitter(cfg, closing)
        resultdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
        closing.callback(resultdb.close)
        async with AsyncExitStack() as stack:
            loop = await start_daily_reports(cfg, MockResolver({}), stack, submitter, resultdb)
            assert loop is not None and loop._task is not None
        assert loop._task is None


async def test_queue_enqueue_adds_tls_report(config_dir: Path) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    closing = ExitStack()
    submitter = adding_submitter(cfg, closing)
    msg = (
        b"From: <tlsreports@example.org>\r\nTo: <tls@remote.example>\r\n"
        b"TLS-Report-Domain: remote.example\r\nTLS-Report-Submitter: example.org\r\n"
        b"TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n"
    )
    try:
        await QueueEnqueue(submitter, cfg.datadir.tmp)(
            "tlsreports@example.org", "tls@remote.example", msg
        )
    finally:
        closing.close()
    db = QueueDB.open(cfg.datadir)
    try:
        (entry,) = db.entries()
    finally:
        db.close()
    assert entry.rcpt == "tls@remote.example"
    assert entry.msg.mail_from == "tlsreports@example.org"
    assert entry.msg.is_tlsrpt and entry.msg.tls_required_no and not entry.msg.requiretls
    assert entry.max_attempts <= 5  # few attempts for reports
    assert entry.next_attempt <= dt.datetime.now(dt.UTC)
    assert list(cfg.datadir.tmp.iterdir()) == []  # the temporary file is gone
