"""Recording outgoing TLS results (docs/tls-reporting.md, Recording), on each
backend (the ``resultdb`` fixture: tlsrptresult.db, and shared in PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb import AttemptResults, ResultDB
from postel.tlsrptresultdb.api import TLSResults

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def sts(domain: str, ok: int, fail: int = 0) -> Policy:
    details = (
        [
            FailureDetails(
                ResultType.CERTIFICATE_EXPIRED,
                receiving_mx_hostname="mx.example.org",
                receiving_ip="192.0.2.1",
                failed_session_count=fail,
            )
        ]
        if fail
        else []
    )
    return Policy(
        PolicyDetails(
            PolicyType.STS, ["version: STSv1", "mode: enforce"], domain, ["mx.example.org"]
        ),
        Summary(ok, fail),
        details,
    )


def tlsa(base: str, ok: int) -> Policy:
    return Policy(PolicyDetails(PolicyType.TLSA, ["3 1 1 ab"], base, []), Summary(ok, 0))


def nopolicy(domain: str) -> Policy:
    return Policy(PolicyDetails(PolicyType.NO_POLICY_FOUND, [], domain, []), Summary(1, 0))


def test_rows_per_domain_and_host_merged(resultdb: TLSResults) -> None:
    db = resultdb
    attempt = AttemptResults(
        "example.org", sts("example.org", 1), {"mx.example.org": tlsa("mx.example.org", 1)}
    )
    db.add_attempt(attempt, send_report=False, now=NOW)
    db.add_attempt(
        AttemptResults(
            "example.org", sts("example.org", 0, 2), {"mx.example.org": tlsa("mx.example.org", 1)}
        ),
        send_report=True,
        now=NOW,
    )
    rows = db.rows(day=NOW.date())
    assert [(r.policy_domain, r.recipient_domain, r.is_host) for r in rows] == [
        ("example.org", "example.org", False),
        ("mx.example.org", "example.org", True),
    ]
    dom = rows[0]
    assert dom.send_report is True
    assert len(dom.results) == 1
    assert dom.results[0].summary == Summary(1, 2)
    assert dom.results[0].failure_details[0].failed_session_count == 2
    assert rows[1].results[0].summary.total_successful_session_count == 2
    db.close()


def test_send_report_never_goes_back_to_false(resultdb: TLSResults) -> None:
    db = resultdb
    db.add_attempt(AttemptResults("a.example", nopolicy("a.example")), send_report=True, now=NOW)
    db.add_attempt(AttemptResults("a.example", nopolicy("a.example")), send_report=False, now=NOW)
    (row,) = db.rows()
    assert row.send_report is True
    assert row.results[0].summary.total_successful_session_count == 2
    db.close()


def test_no_policy_row_dropped_when_host_has_tlsa_for_same_domain(resultdb: TLSResults) -> None:
    db = resultdb
    # No MX: the domain itself is the host, and it has TLSA records.
    db.add_attempt(
        AttemptResults("b.example", nopolicy("b.example"), {"b.example": tlsa("b.example", 1)}),
        send_report=True,
        now=NOW,
    )
    rows = db.rows()
    assert len(rows) == 1 and rows[0].is_host
    assert rows[0].results[0].policy.policy_type == PolicyType.TLSA
    db.close()


def test_mark_sent_and_cleanup(resultdb: TLSResults) -> None:
    db = resultdb
    db.add_attempt(AttemptResults("a.example", nopolicy("a.example")), send_report=True, now=NOW)
    db.add_attempt(
        AttemptResults("a.example", nopolicy("a.example")),
        send_report=True,
        now=NOW - dt.timedelta(days=3),
    )
    db.mark_sent(
        NOW.date(),
        "a.example",
        to_recipient_domain=True,
        reporting_addresses=["mailto:x@a.example"],
    )
    row = db.rows(day=NOW.date())[0]
    assert row.sent_to_recipient_domain and row.recipient_domain_reporting_addresses == [
        "mailto:x@a.example"
    ]
    assert db.delete_older_than(NOW.date() - dt.timedelta(days=2)) == 1
    assert db.days() == [NOW.date()]
    db.close()


def test_suppression_and_automatic_bounce_suppression(resultdb: TLSResults) -> None:
    db = resultdb
    db.suppress("Reports@Example.org", NOW + dt.timedelta(days=1), "asked us", manual=True)
    assert db.is_suppressed("reports@example.org", now=NOW)
    assert not db.is_suppressed("reports@example.org", now=NOW + dt.timedelta(days=2))
    assert db.record_bounce("tls@b.example", now=NOW) is False
    assert db.record_bounce("tls@b.example", now=NOW) is False
    assert db.record_bounce("tls@b.example", now=NOW) is True
    assert db.is_suppressed("tls@b.example", now=NOW)
    assert db.unsuppress("reports@example.org")
    assert [s[0] for s in db.suppressions()] == ["tls@b.example"]
    db.close()


def test_recipient_domain_that_is_its_own_mx_host_counts_a_session_once(
    resultdb: TLSResults,
) -> None:
    """Mail to tlsrpt@<mx host>, or a domain without MX: the host entry has the
    recipient-domain row's key and once merged into it, counting 2 for 1."""
    db = resultdb
    bogus = FailureDetails(
        ResultType.VALIDATION_FAILURE,
        receiving_mx_hostname="mx.example.org",
        failure_reason_code="dnssec-bogus",
        failed_session_count=1,
    )
    host = nopolicy("mx.example.org")
    host.failure_details.append(bogus)
    rows = db.add_attempt(
        AttemptResults("mx.example.org", nopolicy("mx.example.org"), {"mx.example.org": host}),
        send_report=True,
        now=NOW,
    )
    assert len(rows) == 1 and not rows[0].is_host
    [stored] = db.rows()
    [p] = stored.results
    assert (p.summary.total_successful_session_count, p.summary.total_failure_session_count) == (
        1,
        0,
    )
    assert p.failure_details == [bogus]  # the host entry's details are kept
    db.close()


def test_own_mx_host_with_sts_keeps_sts_once_and_tlsa_separate(resultdb: TLSResults) -> None:
    db = resultdb
    db.add_attempt(
        AttemptResults(
            "mx.example.org",
            sts("mx.example.org", 1),
            {"mx.example.org": tlsa("mx.example.org", 1)},
        ),
        send_report=True,
        now=NOW,
    )
    [stored] = db.rows()
    kinds = sorted(
        (p.policy.policy_type.value, p.summary.total_successful_session_count)
        for p in stored.results
    )
    assert kinds == [("sts", 1), ("tlsa", 1)]
    db.close()


def test_shared_connection_waits_for_another_threads_transaction(tmp_path: Path) -> None:
    """One connection shared by the delivery recorder (a worker thread) and the
    report sender or admin pages: their reads and writes wait for a write
    transaction in progress instead of running inside it."""
    import threading

    from postel.db import transaction
    from postel.mtastsdb.model import no_policy_result

    db = ResultDB.open(tmp_path / "r.db")
    in_tx = threading.Event()
    release = threading.Event()
    seen: list[tuple[int, bool]] = []

    def writer() -> None:
        with db.lock, transaction(db.conn):
            db.conn.execute(
                "INSERT INTO suppression (address, until, comment, manual, created)"
                " VALUES ('x@example.org', '2999-01-01T00:00:00+00:00', '', 1, '')"
            )
            in_tx.set()
            release.wait(5)
            db.conn.execute("DELETE FROM suppression")  # never visible to others

    def reader() -> None:
        seen.append((len(db.rows()), db.is_suppressed("x@example.org")))

    try:
        db.add_attempt(
            AttemptResults("rcpt.example", domain_result=no_policy_result("rcpt.example")),
            send_report=True,
        )
        w = threading.Thread(target=writer)
        w.start()
        assert in_tx.wait(5)
        r = threading.Thread(target=reader)
        r.start()
        r.join(0.3)
        assert r.is_alive() and seen == []  # waits for the transaction
        release.set()
        w.join(5)
        r.join(5)
        assert seen == [(1, False)]
    finally:
        release.set()
        db.close()
