"""Hypothesis strategies for TLS reports (imported by the tlsrpt tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from postel.tlsrpt import (
    DateRange,
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    Report,
    ResultType,
    Summary,
)

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
domains = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]{1,8}){0,2}\Z")
ips = st.ip_addresses().map(str)
counts = st.integers(min_value=0, max_value=2**40)
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)

failure_details = st.builds(
    FailureDetails,
    result_type=st.sampled_from(list(ResultType)),
    sending_mta_ip=ips,
    receiving_mx_hostname=st.one_of(st.just(""), domains),
    receiving_mx_helo=st.one_of(st.just(""), domains),
    receiving_ip=st.one_of(st.just(""), ips),
    failed_session_count=counts,
    additional_information=texts,
    failure_reason_code=texts,
)

policy_details = st.builds(
    PolicyDetails,
    policy_type=st.sampled_from(list(PolicyType)),
    policy_strings=st.lists(texts, max_size=4),
    policy_domain=domains,
    mx_hosts=st.lists(domains, max_size=3),
)

policies = st.builds(
    Policy,
    policy=policy_details,
    summary=st.builds(Summary, counts, counts),
    failure_details=st.lists(failure_details, max_size=4),
)

reports = st.builds(
    Report,
    organization_name=texts,
    date_range=st.lists(datetimes, min_size=2, max_size=2).map(sorted).map(lambda t: DateRange(*t)),
    contact_info=texts,
    report_id=texts,
    policies=st.lists(policies, max_size=4),
)

# Small value sets, so that merging finds equal keys often.
small_failures = st.builds(
    FailureDetails,
    result_type=st.sampled_from([ResultType.CERTIFICATE_EXPIRED, ResultType.DANE_REQUIRED]),
    sending_mta_ip=st.sampled_from(["192.0.2.1", "2001:db8::1"]),
    receiving_ip=st.sampled_from(["", "198.51.100.7"]),
    failed_session_count=st.integers(0, 1000),
)
small_policies = st.builds(
    Policy,
    policy=st.builds(
        PolicyDetails,
        policy_type=st.sampled_from([PolicyType.STS, PolicyType.TLSA]),
        policy_strings=st.sampled_from([[], ["version: STSv1", "mode: enforce"]]),
        policy_domain=st.sampled_from(["a.example", "b.example"]),
        mx_hosts=st.sampled_from([[], ["mx.a.example"]]),
    ),
    summary=st.builds(Summary, st.integers(0, 1000), st.integers(0, 1000)),
    failure_details=st.lists(small_failures, max_size=3),
)
