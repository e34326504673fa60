"""RFC 8460 entries of an attempt (docs/tls-reporting.md, Recording)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest

from postel.dane import TLSARecord
from postel.dane.lookup import TLSALookup
from postel.delivery import AttemptReport, DeliveryOutcome, HostAddresses, HostTLSA
from postel.delivery.results import (
    ede_reason,
    is_ip_literal,
    send_report_for,
    tls_attempt,
)
from postel.dns import BogusError, TemporaryError
from postel.mtasts.policy import parse_policy
from postel.mtastsdb.model import no_policy_result, sts_result
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.smtpclient import SessionResult
from postel.tlsrpt.report import FailureDetails, PolicyType, ResultType
from postel.tlsrptresultdb import AttemptResults, ResultDB

HOST = "mx.example.com"
POLICY = parse_policy("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 600\n")
EE = TLSARecord.from_text("3 1 1 " + "ab" * 32)
TA = TLSARecord.from_text("2 0 1 " + "cd" * 32)
PKIX_TA = TLSARecord.from_text("0 0 1 " + "ef" * 32)


def tlsa(*records: TLSARecord, base: str = HOST) -> HostTLSA:
    lookup = TLSALookup(HOST, 25, base, f"_25._tcp.{base}.", (), tuple(records), True)
    return HostTLSA(True, base, [base], lookup)


def fd(kind: str, reason: str = "") -> FailureDetails:
    return FailureDetails(
        kind,
        sending_mta_ip="127.0.0.1",
        receiving_mx_hostname=HOST,
        receiving_ip="192.0.2.25",
        receiving_mx_helo="helo.example.com",
        failed_session_count=1,
        failure_reason_code=reason,
        additional_information="info",
    )


def session(**kw: object) -> SessionResult:
    return SessionResult(
        host=HOST,
        ip="192.0.2.25",
        port=25,
        connected=True,
        receiving_mx_helo="helo.example.com",
        **kw,
    )  # type: ignore[arg-type]


def test_mtasts_results() -> None:
    assert no_policy_result("example.com").policy.policy_type == PolicyType.NO_POLICY_FOUND
    r = sts_result("example.com", POLICY)
    assert r.policy.policy_type == PolicyType.STS
    assert r.policy.policy_strings == [
        "version: STSv1",
        "mode: enforce",
        "mx: mx.example.com",
        "max_age: 600",
    ]
    assert r.policy.mx_hosts == ["mx.example.com"]


def test_mx_mismatch_enforce_counts_failure_testing_does_not() -> None:
    rep = AttemptReport("example.com", sts_result("example.com", POLICY))
    rep.mx_mismatch("other.example.net", enforced=True)
    d = rep.domain_result.failure_details[0]
    assert (d.result_type, d.failure_reason_code, d.receiving_mx_hostname) == (
        "validation-failure",
        "mtasts-policy-mx-mismatch",
        "other.example.net",
    )
    assert rep.domain_result.summary.total_failure_session_count == 1
    rep2 = AttemptReport("example.com", sts_result("example.com", POLICY))
    rep2.mx_mismatch("other.example.net", enforced=False)
    assert rep2.domain_result.summary.total_failure_session_count == 0
    assert len(rep2.domain_result.failure_details) == 1


def test_bogus_host_lookup_validation_failure_with_ede() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    err = BogusError(f"{HOST}.", "A", ede_code=9)
    rep.host_addresses(HostAddresses(HOST, HOST, False, False, False, [], err))
    e = rep.host_results[HOST]
    assert e.policy.policy_type == PolicyType.NO_POLICY_FOUND and e.policy.policy_domain == HOST
    assert e.summary.total_failure_session_count == 1
    assert e.failure_details[0].result_type == "validation-failure"
    assert e.failure_details[0].failure_reason_code == "dns-extended-error-9-dnskey-missing"
    assert ede_reason(BogusError("x.", "A", ede_code=None)) == "dnssec-bogus"


def test_bogus_next_hop_goes_on_domain_result() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.domain_dns_failure(BogusError("example.com.", "MX", ede_code=7))
    assert rep.domain_result.summary.total_failure_session_count == 1
    assert (
        rep.domain_result.failure_details[0].failure_reason_code
        == "dns-extended-error-7-signature-expired"
    )
    rep.domain_dns_failure(TemporaryError("SERVFAIL"))  # not a DNSSEC result
    assert len(rep.domain_result.failure_details) == 1


def test_insecure_host_no_policy_found() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.host_tlsa(HOST, HostTLSA(False, HOST, [HOST]))
    e = rep.host_results[HOST]
    assert e.policy.policy_type == PolicyType.NO_POLICY_FOUND and e.policy.policy_domain == HOST


def test_secure_host_without_tlsa_no_policy_for_base_domain() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.host_tlsa(HOST, tlsa(base="real.example.net"))
    e = rep.host_results[HOST]
    assert e.policy.policy_type == PolicyType.NO_POLICY_FOUND
    assert e.policy.policy_domain == "real.example.net"


def test_tlsa_policy_usable_records_sorted() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.host_tlsa(HOST, tlsa(TA, PKIX_TA, EE))
    e = rep.host_results[HOST]
    assert e.policy.policy_type == PolicyType.TLSA and e.policy.policy_domain == HOST
    assert e.policy.policy_strings == sorted([EE.text(), TA.text()])
    assert e.failure_details == []


def test_all_unusable_tlsa_invalid() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.host_tlsa(HOST, tlsa(PKIX_TA))
    e = rep.host_results[HOST]
    assert e.policy.policy_strings == []
    assert [d.result_type for d in e.failure_details] == ["tlsa-invalid"]


def test_tlsa_lookup_error_failure() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.host_tlsa(
        HOST,
        HostTLSA(True, HOST, [HOST], None, BogusError(f"_25._tcp.{HOST}.", "TLSA", ede_code=6)),
    )
    e = rep.host_results[HOST]
    assert e.policy.policy_type == PolicyType.TLSA
    assert e.summary.total_failure_session_count == 1
    assert e.failure_details[0].failure_reason_code == "dns-extended-error-6-dnssec-bogus"


def test_session_success_counts_on_both() -> None:
    rep = AttemptReport("example.com", sts_result("example.com", POLICY))
    rep.host_tlsa(HOST, tlsa(EE))
    rep.session(session(tls=True, tls_success=True))
    for e in (rep.domain_result, rep.host_results[HOST]):
        assert e.summary.total_successful_session_count == 1
        assert e.summary.total_failure_session_count == 0


def test_reused_connection_is_not_counted_again() -> None:
    """RFC 8460 §4.4 counts TLS sessions: two messages over one connection are
    one successful session (docs/tls-reporting.md, Connection reuse)."""
    rep = AttemptReport("example.com", sts_result("example.com", POLICY))
    rep.host_tlsa(HOST, tlsa(EE))
    rep.session(session(tls=True, tls_success=True))
    rep.session(session(tls=True, tls_success=True, reused=True))
    for e in (rep.domain_result, rep.host_results[HOST]):
        assert e.summary.total_successful_session_count == 1
        assert e.summary.total_failure_session_count == 0


def test_handshake_failure_on_both_with_detail() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    alert = "tls-remote-alert-40-handshake-failure"
    rep.session(session(tls_failure=fd("validation-failure", alert)))
    for e in (rep.domain_result, rep.host_results[HOST]):
        assert e.summary.total_failure_session_count == 1
        [d] = e.failure_details
        assert d.failure_reason_code == "tls-remote-alert-40-handshake-failure"
        assert (d.receiving_mx_hostname, d.receiving_ip, d.receiving_mx_helo) == (
            HOST,
            "192.0.2.25",
            "helo.example.com",
        )


def test_starttls_not_supported() -> None:
    rep = AttemptReport("example.com", no_policy_result("example.com"))
    rep.session(session(tls_failure=fd(ResultType.STARTTLS_NOT_SUPPORTED)))
    assert rep.domain_result.failure_details[0].result_type == "starttls-not-supported"
    assert rep.host_results[HOST].summary.total_failure_session_count == 1


def test_pkix_on_domain_dane_on_host() -> None:
    rep = AttemptReport("example.com", sts_result("example.com", POLICY))
    rep.host_tlsa(HOST, tlsa(EE))
    rep.session(
        session(
            tls=True,
            verification_failed=True,
            pkix_failure=fd("certificate-not-trusted"),
            dane_failure=fd("validation-failure", "dane-no-match"),
        )
    )
    assert [d.result_type for d in rep.domain_result.failure_details] == ["certificate-not-trusted"]
    assert [d.failure_reason_code for d in rep.host_results[HOST].failure_details] == [
        "dane-no-match"
    ]
    assert rep.domain_result.summary.total_failure_session_count == 1
    assert rep.host_results[HOST].summary.total_failure_session_count == 1


def test_send_report_rules() -> None:
    ok = AttemptReport("example.com", no_policy_result("example.com"))
    ok.session(session(tls=True, tls_success=True))
    bad = AttemptReport("example.com", no_policy_result("example.com"))
    bad.session(session(tls_failure=fd("certificate-expired")))
    assert send_report_for(ok, is_tlsrpt=False, is_dmarc_report=False)
    assert not send_report_for(bad, is_tlsrpt=True, is_dmarc_report=False)
    assert not send_report_for(ok, is_tlsrpt=False, is_dmarc_report=True)
    assert send_report_for(bad, is_tlsrpt=False, is_dmarc_report=True)


def test_record_rules(tmp_path: Path) -> None:
    db = ResultDB.open(tmp_path / "r.db")
    now = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    try:
        rep = AttemptReport("example.com", no_policy_result("example.com"))
        rep.host_tlsa(HOST, tlsa(EE))
        rep.session(session(tls=True, tls_success=True))
        assert tls_attempt(rep, disabled=True, is_tlsrpt=False, is_dmarc_report=False) is None
        lit = AttemptReport("[192.0.2.1]", no_policy_result("[192.0.2.1]"))
        assert tls_attempt(lit, disabled=False, is_tlsrpt=False, is_dmarc_report=False) is None
        assert is_ip_literal("[IPv6:2001:db8::1]") and not is_ip_literal("example.com")
        t = tls_attempt(rep, disabled=False, is_tlsrpt=True, is_dmarc_report=False)
        assert t is not None and not t.send_report
        db.add_attempt(t.results, send_report=t.send_report, now=now)
        rows = db.rows()
        # The tlsa host row has the host as policy domain: the domain row stays.
        assert [(r.policy_domain, r.is_host, r.send_report) for r in rows] == [
            ("example.com", False, False),
            (HOST, True, False),
        ]
    finally:
        db.close()


async def test_recorder_batches_concurrent_attempts_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attempts finishing together share one transaction, written in a worker
    thread (never on the event loop's); the stored counts are those of
    recording them one by one."""
    db = ResultDB.open(tmp_path / "r.db")
    threads: list[int] = []
    real = db.add_attempts

    def spy(items: list[tuple[AttemptResults, bool]]) -> None:
        threads.append(threading.get_ident())
        real(items)

    monkeypatch.setattr(db, "add_attempts", spy)
    try:
        recorder = OutcomeRecorder(None, db, None)

        def outcome() -> DeliveryOutcome:
            rep = AttemptReport("example.com", no_policy_result("example.com"))
            rep.host_tlsa(HOST, tlsa(EE))
            rep.session(session(tls=True, tls_success=True))
            t = tls_attempt(rep, disabled=False, is_tlsrpt=False, is_dmarc_report=False)
            assert t is not None
            return DeliveryOutcome((), tls_reports=(t,))

        await asyncio.gather(*(recorder.record(AttemptRecord(outcome())) for _ in range(10)))
        assert recorder.writes < 10
        assert threads and threading.get_ident() not in threads
        counts = {
            r.policy_domain: [p.summary.total_successful_session_count for p in r.results]
            for r in db.rows()
        }
        assert counts == {"example.com": [10], HOST: [10]}
    finally:
        db.close()
