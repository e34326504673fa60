"""Reports mailed through Postfix to postel's report addresses end up parsed in
tlsrpt.db / dmarcrpt.db with the FACTS.md values; invalid ones stay delivered to
the mailbox and are logged as unparseable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postfixpeer import PostfixPeer
from postfixpeer.postel_env import DOMAIN, running_postel
from postfixpeer.reportmail import dmarc_mail, tlsrpt_mail
from storagebackend import Backend

from postel import dmarcdb, tlsrptdb
from postel.config import Config
from postel.dmarcdb.api import ReceivedDMARCReports
from postel.tlsrptdb.api import ReceivedTLSReports
from postel.wiring import CLIRoot

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_log_level")]

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
SENDER = "reports@reporter.test"

# ../shared/testdata/FACTS.md
TLSRPT_FACTS = {
    "rfc8460.json": ("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
                     ["company-y.example"], 5326, 303),
    "smtp_tls.json": ("Example Inc.", "2024-01-09T00:00:00Z_example.com", ["example.com"], 0, 3),
}  # fmt: skip
DMARC_FACTS = {
    "example.net!example.com!1529366400!1529452799.xml": (
        "example.net", "b043f0e264cf4ea995e93765242f6dfb", "example.com", 1, 1),
    "fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": (
        "FastMail Pty Ltd", "102675056", "indemed.com", 1, 1),
    "estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": (
        "XYZ Corporation", "2940", "example.com", 1, 1),
}  # fmt: skip
# Valid by the MANIFEST (lenient parsing), facts not in FACTS.md.
DMARC_LENIENT = {
    "invalid_xml.xml": ("veeam.com", "sonexushealth.com:1530233361"),
    "twilight.eml": ("google.com", "1627703331531660819"),
}


async def wait_for(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def tlsrpt_count(path: Path) -> int:
    if not path.exists():
        return 0
    with tlsrptdb.open(path) as db:
        return db.count() + db.duplicate_count()


def dmarc_count(path: Path) -> int:
    if not path.exists():
        return 0
    with dmarcdb.open(path) as db:
        return db.count() + db.duplicate_count()


@contextlib.contextmanager
def received(
    cfg: Config, backend: Backend
) -> Iterator[tuple[ReceivedTLSReports, ReceivedDMARCReports]]:
    """The stored reports: the data directory's files, or on PostgreSQL the
    nodes' shared tables (as `postel tlsrpt` and `postel dmarc` open them)."""
    if backend.is_pg:
        with CLIRoot.for_config(cfg) as root:
            yield root.tlsrptdb, root.dmarcdb
        return
    with tlsrptdb.open(cfg.datadir.tlsrpt_db) as tdb, dmarcdb.open(cfg.datadir.dmarcrpt_db) as ddb:
        yield tdb, ddb


def stored_counts(cfg: Config, backend: Backend) -> tuple[int, int]:
    """(TLS, DMARC) reports and duplicates stored so far."""
    if not backend.is_pg:
        return tlsrpt_count(cfg.datadir.tlsrpt_db), dmarc_count(cfg.datadir.dmarcrpt_db)
    with received(cfg, backend) as (tdb, ddb):
        return tdb.count() + tdb.duplicate_count(), ddb.count() + ddb.duplicate_count()


async def test_reports_through_postfix_are_stored(
    testnet: Any,
    postfix_peer: PostfixPeer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    storage_backend: Backend,
) -> None:
    testnet.set_zone("reporter.test", [f'@ TXT "v=spf1 ip4:{postfix_peer.ip} -all"'])
    tlsrpt_rcpt, dmarc_rcpt = f"tlsrpt@{DOMAIN}", f"dmarc@{DOMAIN}"
    tdir, ddir = TESTDATA / "tlsrpt", TESTDATA / "dmarc"
    mails: list[tuple[str, bytes]] = [
        (tlsrpt_rcpt, tlsrpt_mail((tdir / "rfc8460.json").read_bytes(), SENDER, tlsrpt_rcpt)),
        (tlsrpt_rcpt, tlsrpt_mail((tdir / "smtp_tls.json").read_bytes(), SENDER, tlsrpt_rcpt,
                                  gzipped=False)),
        # The same report again, as the gzip file: a duplicate, not a second report.
        (tlsrpt_rcpt, tlsrpt_mail((tdir / "smtp_tls.json.gz").read_bytes(), SENDER, tlsrpt_rcpt)),
        (tlsrpt_rcpt, tlsrpt_mail((tdir / "not-json.json").read_bytes(), SENDER, tlsrpt_rcpt,
                                  gzipped=False)),
    ]  # fmt: skip
    for name in [*DMARC_FACTS, "invalid_xml.xml", "empty.xml"]:
        mails.append((dmarc_rcpt, dmarc_mail((ddir / name).read_bytes(), name, SENDER, dmarc_rcpt)))
    # A real report message, sent as it is.
    mails.append((dmarc_rcpt, (ddir / "twilight.eml").read_bytes()))

    ip = testnet.ip()
    with caplog.at_level(logging.INFO, logger="postel.reportintake"):
        async with running_postel(tmp_path, testnet, ip, backend=storage_backend) as env:
            await asyncio.to_thread(postfix_peer.configure, relay_to=(ip, env.port), tls="encrypt")
            for rcpt, data in mails:
                await asyncio.to_thread(postfix_peer.send, SENDER, rcpt, data)
            await asyncio.to_thread(postfix_peer.wait_until_queue_empty, 60)
            cfg = env.cfg
            # Every message is in its mailbox, parseable or not.
            await wait_for(lambda: len(env.messages("TLSRPT")) == 4)
            await wait_for(lambda: len(env.messages("DMARC")) == 6)
            # Intake runs after delivery; wait until every parseable one is in.
            await wait_for(lambda: stored_counts(cfg, storage_backend)[0] == 3)
            await wait_for(lambda: stored_counts(cfg, storage_backend)[1] == 5)
            await wait_for(
                lambda: sum(r.message == "unparseable report" for r in caplog.records) == 2
            )

    with received(cfg, storage_backend) as (tdb, ddb):
        assert tdb.count() == 2 and tdb.duplicate_count() == 1
        for org, rid, domains, ok, fail in TLSRPT_FACTS.values():
            got = tdb.find(org, rid)
            assert got is not None, (org, rid)
            assert (got.policy_domains, got.successes, got.failures) == (domains, ok, fail)
            assert got.to_rcpt == tlsrpt_rcpt and got.from_addr == SENDER
            assert got.kind == "domain"
        assert tdb.find("Example Inc.", "2024-01-09T00:00:00Z_example.com").duplicates == 1  # type: ignore[union-attr]
        assert ddb.count() == 5 and ddb.duplicate_count() == 0
        for org, rid, domain, records, messages in DMARC_FACTS.values():
            found = ddb.find(org, rid)
            assert len(found) == 1, (org, rid)
            got = found[0]
            assert (got.domain, got.record_count, got.message_count) == (domain, records, messages)
            assert got.to_rcpt == dmarc_rcpt
        for org, rid in DMARC_LENIENT.values():
            assert len(ddb.find(org, rid)) == 1, (org, rid)
        (lenient,) = ddb.find(*DMARC_LENIENT["invalid_xml.xml"])
        assert lenient.warnings  # the repair is recorded

    bad = [r for r in caplog.records if r.message == "unparseable report"]
    assert {r.rcpt for r in bad} == {tlsrpt_rcpt, dmarc_rcpt}  # type: ignore[attr-defined]
    errors = " | ".join(r.error for r in bad)  # type: ignore[attr-defined]
    assert "not valid JSON" in errors and "empty document" in errors
    assert all(r.levelno == logging.WARNING for r in bad)
