"""Report intake: delivered report messages parsed and stored, bad ones logged."""

from __future__ import annotations

import gzip
import logging
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postel import tlsrptdb
from postel.datadir import DataDir
from postel.receivedreports import dmarc_reports, tls_reports
from postel.reportintake import IntakeResult, Status, UnknownKind, intake, intake_sync
from postel.reportintake.message import header_from
from receivedbackends import Backend

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"


def report_mail(
    attachment: bytes, filename: str, maintype: str, subtype: str, *, tlsrpt: bool
) -> bytes:
    """A report message as reporters send it (RFC 8460 §5.3, RFC 7489 §7.2.1.1)."""
    msg = EmailMessage()
    msg["From"] = "Reporter <reports@reporter.example>"
    msg["To"] = "reports@example.com"
    msg["Subject"] = "Report Domain: example.com Submitter: reporter.example"
    msg.set_content("A report is attached.\n")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    if tlsrpt:
        msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"; '
                           f'boundary="{msg.get_boundary()}"')  # fmt: skip
    return bytes(msg)


def deliver(datadir: DataDir, data: bytes, n: int = 1) -> Path:
    """Put a message file where the store would (accounts/<name>/msg/<bucket>/<id>)."""
    path = datadir.account_dir("reports") / "msg" / "0" / str(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    d = DataDir(tmp_path / "data")
    d.ensure()
    return d


async def test_tlsrpt_gzip_attachment_stored(datadir: DataDir, backend: Backend) -> None:
    raw = (TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()
    mail = report_mail(gzip.compress(raw), "r.json.gz", "application", "tlsrpt+gzip", tlsrpt=True)
    path = deliver(datadir, mail)
    res = await intake(datadir, "tlsrpt", path, "tlsrpt@company-y.example", pg=backend.pg)
    assert res.status is Status.STORED and res.ok
    assert res.organization == "Company-X"
    assert res.report_id == "5065427c-23d3-47ca-b6e0-946ea0e8c4be"
    with tls_reports(datadir, backend.received) as db:
        got = db.get(res.db_id or 0)
    assert got is not None
    assert (got.successes, got.failures) == (5326, 303)
    assert got.policy_domains == ["company-y.example"]
    assert got.from_addr == "reports@reporter.example"
    assert got.to_rcpt == "tlsrpt@company-y.example"
    assert got.message_ref == "accounts/reports/msg/0/1"
    assert got.kind == "domain"
    # On PostgreSQL the report is in the shared tables, not in the data directory.
    assert datadir.tlsrpt_db.exists() == (backend.pg is None)


async def test_failures_others_report_are_a_warning(
    datadir: DataDir, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/received-reports.md: a stored report with failures for our domain is
    logged as a warning with the count (through the child process)."""
    raw = (TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()
    mail = report_mail(raw, "r.json", "application", "tlsrpt+json", tlsrpt=True)
    with caplog.at_level(logging.INFO, logger="postel.reportintake"):
        res = await intake(
            datadir, "tlsrpt", deliver(datadir, mail), "tlsrpt@company-y.example", pg=backend.pg
        )
        again = await intake(
            datadir, "tlsrpt", deliver(datadir, mail, 2), "tlsrpt@company-y.example", pg=backend.pg
        )
    assert res.status is Status.STORED and res.failures == 303
    assert again.status is Status.DUPLICATE  # a copy is not warned about again
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == "report shows failures for our domain"
    assert warning.failures == 303  # type: ignore[attr-defined]
    dmarc = TESTDATA / "dmarc" / "example.net!example.com!1529366400!1529452799.xml"
    res = intake_sync(
        datadir, "dmarc", deliver(datadir, dmarc.read_bytes(), 3), "d@x", pg=backend.pg
    )
    with dmarc_reports(datadir, backend.received) as db:
        stored = db.get(res.db_id or 0)
    assert stored is not None and res.failures == stored.counts.dmarc_fail


async def test_tlsrpt_host_kind_and_duplicate(datadir: DataDir, backend: Backend) -> None:
    raw = (TESTDATA / "tlsrpt" / "smtp_tls.json").read_bytes()
    mail = report_mail(raw, "r.json", "application", "tlsrpt+json", tlsrpt=True)
    first = await intake(
        datadir, "tlsrpt-host", deliver(datadir, mail, 1), "tlsrpt@mx.example", pg=backend.pg
    )
    second = await intake(
        datadir, "tlsrpt-host", deliver(datadir, mail, 2), "tlsrpt@mx.example", pg=backend.pg
    )
    assert first.status is Status.STORED
    assert second.status is Status.DUPLICATE and second.ok and second.db_id == first.db_id
    with tls_reports(datadir, backend.received) as db:
        assert db.count() == 1 and db.duplicate_count() == 1
        got = db.get(first.db_id or 0)
        assert got is not None and got.kind == "host" and (got.successes, got.failures) == (0, 3)


@pytest.mark.parametrize(
    ("name", "maintype", "subtype", "org", "rid", "domain"),
    [
        ("example.net!example.com!1529366400!1529452799.xml", "text", "xml", "example.net",
         "b043f0e264cf4ea995e93765242f6dfb", "example.com"),
        ("fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz", "application",
         "gzip", "FastMail Pty Ltd", "102675056", "indemed.com"),
        ("estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip",
         "application", "zip", "XYZ Corporation", "2940", "example.com"),
    ],
)  # fmt: skip
async def test_dmarc_attachments_stored(
    datadir: DataDir,
    backend: Backend,
    name: str,
    maintype: str,
    subtype: str,
    org: str,
    rid: str,
    domain: str,
) -> None:
    data = (TESTDATA / "dmarc" / name).read_bytes()
    path = deliver(datadir, report_mail(data, name, maintype, subtype, tlsrpt=False))
    res = await intake(datadir, "dmarc", path, "dmarc@" + domain, pg=backend.pg)
    assert res.status is Status.STORED, res.error
    with dmarc_reports(datadir, backend.received) as db:
        got = db.get(res.db_id or 0)
    assert got is not None
    assert (got.organization, got.report_id, got.domain) == (org, rid, domain)
    assert (got.record_count, got.message_count) == (1, 1)


async def test_dmarc_whole_real_email(datadir: DataDir, backend: Backend) -> None:
    path = deliver(datadir, (TESTDATA / "dmarc" / "twilight.eml").read_bytes())
    res = await intake(datadir, "dmarc", path, "dmarc@twlnet.com", pg=backend.pg)
    assert res.status is Status.STORED
    assert (res.organization, res.report_id) == ("google.com", "1627703331531660819")


async def test_lenient_report_keeps_warnings(datadir: DataDir, backend: Backend) -> None:
    data = (TESTDATA / "dmarc" / "invalid_xml.xml").read_bytes()
    path = deliver(datadir, report_mail(data, "r.xml", "text", "xml", tlsrpt=False))
    res = await intake(datadir, "dmarc", path, "dmarc@example.com", pg=backend.pg)
    assert res.status is Status.STORED and res.warnings
    with dmarc_reports(datadir, backend.received) as db:
        got = db.get(res.db_id or 0)
    assert got is not None and got.warnings == res.warnings


@pytest.mark.parametrize(
    ("kind", "data", "wrap", "fragment"),
    [
        ("tlsrpt", (TESTDATA / "tlsrpt" / "not-json.json").read_bytes(), True, "not valid JSON"),
        ("dmarc", (TESTDATA / "dmarc" / "empty.xml").read_bytes(), True, "empty document"),
        ("tlsrpt", b"From: a@b.example\r\n\r\nno report here\r\n", False, "no TLS report"),
        ("dmarc", b"From: a@b.example\r\n\r\nno report here\r\n", False, "no DMARC"),
        ("tlsrpt", b"\x00\x01binary", False, "not JSON"),
        ("dmarc", b"\x00\x01binary", False, "not XML"),
    ],
)
async def test_unparseable_is_logged_not_raised(
    datadir: DataDir,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    data: bytes,
    wrap: bool,
    fragment: str,
) -> None:
    if wrap:
        name = "r.json" if kind == "tlsrpt" else "r.xml"
        ctype = ("application", "tlsrpt+json") if kind == "tlsrpt" else ("text", "xml")
        data = report_mail(data, name, *ctype, tlsrpt=kind == "tlsrpt")
    path = deliver(datadir, data)
    with caplog.at_level(logging.WARNING, logger="postel.reportintake"):
        res = await intake(datadir, kind, path, "reports@example.com")
    assert res.status is Status.UNPARSEABLE and not res.ok
    assert fragment in res.error
    recs = [r for r in caplog.records if r.name == "postel.reportintake"]
    assert len(recs) == 1 and recs[0].levelno == logging.WARNING
    assert recs[0].rcpt == "reports@example.com"  # type: ignore[attr-defined]
    assert fragment in recs[0].error  # type: ignore[attr-defined]


def test_oversized_message_is_unparseable(datadir: DataDir) -> None:
    path = deliver(datadir, b"x" * 101)
    res = intake_sync(datadir, "tlsrpt", path, "r@example.com", max_bytes=100)
    assert res.status is Status.UNPARSEABLE and "larger than 100 bytes" in res.error


def test_transient_server_copy_has_no_message_ref(datadir: DataDir) -> None:
    raw = (TESTDATA / "tlsrpt" / "smtp_tls.json").read_bytes()
    path = datadir.tmp / "17-final"
    path.write_bytes(report_mail(raw, "r.json", "application", "tlsrpt+json", tlsrpt=True))
    res = intake_sync(datadir, "tlsrpt", path, "tlsrpt@example.com")
    with tlsrptdb.open(datadir.tlsrpt_db) as db:
        got = db.get(res.db_id or 0)
    assert got is not None and got.message_ref == ""


def test_missing_file_fails_without_raising(datadir: DataDir) -> None:
    res = intake_sync(datadir.root, "dmarc", datadir.root / "nope", "r@example.com")
    assert res.status is Status.FAILED and "cannot read" in res.error


def test_database_failure_is_reported_not_raised(datadir: DataDir) -> None:
    datadir.tlsrpt_db.mkdir()  # a directory where the database file should be
    raw = (TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()
    path = deliver(datadir, report_mail(raw, "r.json", "application", "tlsrpt+json", tlsrpt=True))
    res = intake_sync(datadir, "tlsrpt", path, "r@example.com")
    assert res.status is Status.FAILED and str(datadir.tlsrpt_db) in res.error


async def test_unknown_kind_is_a_programming_error(datadir: DataDir) -> None:
    with pytest.raises(UnknownKind, match="'arf'"):
        await intake(datadir, "arf", datadir.root / "x", "r@example.com")


def test_result_ok_property() -> None:
    assert IntakeResult("dmarc", "r", Status.DUPLICATE).ok
    assert not IntakeResult("dmarc", "r", Status.FAILED).ok


junk = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda h, b: h + b"\r\n\r\n" + b,
        st.sampled_from([b"From: a@b.example", b"From: <>", b"From: =?x?q?", b"Subject: x"]),
        st.binary(max_size=200),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=junk, kind=st.sampled_from(["tlsrpt", "tlsrpt-host", "dmarc"]))
def test_intake_never_raises_on_arbitrary_input(datadir: DataDir, data: bytes, kind: str) -> None:
    path = deliver(datadir, data, 99)
    res = intake_sync(datadir, kind, path, "r@example.com")
    assert res.status in (Status.UNPARSEABLE, Status.STORED, Status.DUPLICATE)
    assert isinstance(header_from(data), str)
