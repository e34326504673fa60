"""TLS report model: merging and JSON serialisation (RFC 8460 §4.4, docs/tls-reporting.md)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from tlsrpt_strategies import small_policies

from postel.tlsrpt import (
    DateRange,
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    Report,
    ResultType,
    Summary,
    merge_policies,
)


def _report(policies: list[Policy]) -> Report:
    return Report(
        organization_name="postel.example",
        date_range=DateRange(
            datetime(2024, 1, 9, tzinfo=UTC), datetime(2024, 1, 9, 23, 59, 59, tzinfo=UTC)
        ),
        contact_info="postmaster@postel.example",
        report_id="20240109.example.com@postel.example",
        policies=policies,
    )


def test_all_result_types() -> None:
    assert {r.value for r in ResultType} == {
        "starttls-not-supported",
        "certificate-host-mismatch",
        "certificate-expired",
        "tlsa-invalid",
        "dnssec-invalid",
        "dane-required",
        "certificate-not-trusted",
        "sts-policy-invalid",
        "sts-webpki-invalid",
        "validation-failure",
        "sts-policy-fetch-error",
    }


def test_serialise_empty_lists_and_helo_omitted() -> None:
    r = _report(
        [
            Policy(
                PolicyDetails(PolicyType.NO_POLICY_FOUND, policy_domain="example.com"),
                Summary(1, 1),
                [
                    FailureDetails(
                        ResultType.STARTTLS_NOT_SUPPORTED,
                        "192.0.2.1",
                        "mx.example.com",
                        failed_session_count=1,
                    )
                ],
            )
        ]
    )
    d = json.loads(r.to_json())
    pol = d["policies"][0]
    assert pol["policy"] == {
        "policy-type": "no-policy-found",
        "policy-string": [],
        "policy-domain": "example.com",
        "mx-host": [],
    }
    fd = pol["failure-details"][0]
    assert "receiving-mx-helo" not in fd
    assert fd["result-type"] == "starttls-not-supported"
    assert fd["failed-session-count"] == 1
    assert d["date-range"] == {
        "start-datetime": "2024-01-09T00:00:00Z",
        "end-datetime": "2024-01-09T23:59:59Z",
    }
    assert "null" not in r.to_json()


def test_helo_present_when_set() -> None:
    fd = FailureDetails(ResultType.VALIDATION_FAILURE, receiving_mx_helo="mx.example")
    r = _report([Policy(PolicyDetails(PolicyType.STS), failure_details=[fd])])
    assert r.to_dict()["policies"][0]["failure-details"][0]["receiving-mx-helo"] == "mx.example"


def test_merge_equal_policies_add_counts_and_details() -> None:
    pd = PolicyDetails(PolicyType.STS, ["version: STSv1"], "example.com", ["mx.example.com"])
    f1 = FailureDetails(ResultType.CERTIFICATE_EXPIRED, "192.0.2.1", failed_session_count=2)
    f2 = FailureDetails(ResultType.CERTIFICATE_EXPIRED, "192.0.2.1", failed_session_count=3)
    f3 = FailureDetails(ResultType.CERTIFICATE_EXPIRED, "192.0.2.2", failed_session_count=1)
    r = _report([Policy(pd, Summary(10, 2), [f1])])
    r.add(Policy(PolicyDetails(**vars(pd)), Summary(5, 4), [f2, f3]))
    assert len(r.policies) == 1
    p = r.policies[0]
    assert p.summary == Summary(15, 6)
    assert [(f.sending_mta_ip, f.failed_session_count) for f in p.failure_details] == [
        ("192.0.2.1", 5),
        ("192.0.2.2", 1),
    ]
    # inputs are not modified
    assert f1.failed_session_count == 2


def test_different_policies_do_not_merge() -> None:
    base = PolicyDetails(PolicyType.STS, ["a"], "example.com", ["mx.example.com"])
    others = [
        PolicyDetails(PolicyType.TLSA, ["a"], "example.com", ["mx.example.com"]),
        PolicyDetails(PolicyType.STS, ["b"], "example.com", ["mx.example.com"]),
        PolicyDetails(PolicyType.STS, ["a"], "example.net", ["mx.example.com"]),
        PolicyDetails(PolicyType.STS, ["a"], "example.com", []),
    ]
    merged = merge_policies(
        [Policy(base, Summary(1, 0))], [Policy(o, Summary(1, 0)) for o in others]
    )
    assert len(merged) == 5


def _totals(policies: list[Policy]) -> tuple[Counter[object], Counter[object]]:
    summary: Counter[object] = Counter()
    details: Counter[object] = Counter()
    for p in policies:
        summary[(p.policy.key(), "ok")] += p.summary.total_successful_session_count
        summary[(p.policy.key(), "fail")] += p.summary.total_failure_session_count
        for f in p.failure_details:
            details[(p.policy.key(), f.key())] += f.failed_session_count
    return summary, details


@given(st.lists(small_policies, max_size=6), st.lists(small_policies, max_size=6))
def test_merge_commutative_on_counts(a: list[Policy], b: list[Policy]) -> None:
    ab = merge_policies(a, b)
    ba = merge_policies(b, a)
    assert _totals(ab) == _totals(ba)
    assert _totals(ab) == _totals(a + b)
    # every key occurs once after merging
    keys = [p.policy.key() for p in ab]
    assert len(keys) == len(set(keys))
    for p in ab:
        fkeys = [f.key() for f in p.failure_details]
        assert len(fkeys) == len(set(fkeys))
