"""Parsing TLS reports: test vectors, containers, lenient/strict, limits (RFC 8460 §4.4, §5.3)."""

from __future__ import annotations

import gzip
import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tlsrpt_strategies import reports

from postel.tlsrpt import (
    Limits,
    PolicyType,
    Report,
    ResultType,
    TLSRPTError,
    TLSRPTInputError,
    TLSRPTLimitError,
    TLSRPTReportError,
    parse_report,
    parse_report_json,
)

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "tlsrpt"

# ../shared/testdata/FACTS.md
FACTS: dict[str, dict[str, Any]] = {
    "rfc8460.json": {
        "org": "Company-X",
        "report_id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        "policies": 1,
        "domains": ["company-y.example"],
        "successes": 5326,
        "failures": 303,
    },
    "smtp_tls.json": {
        "org": "Example Inc.",
        "report_id": "2024-01-09T00:00:00Z_example.com",
        "policies": 1,
        "domains": ["example.com"],
        "successes": 0,
        "failures": 3,
    },
}
FACTS["smtp_tls.json.gz"] = FACTS["smtp_tls.json"]


def manifest() -> list[tuple[str, str]]:
    rows = re.findall(
        r"^\| (\S+) \| (valid|invalid) \|", (TESTDATA / "MANIFEST.md").read_text(), re.M
    )
    assert rows, "MANIFEST.md has no entries"
    return rows


def check_facts(report: Report, facts: dict[str, Any]) -> None:
    assert report.organization_name == facts["org"]
    assert report.report_id == facts["report_id"]
    assert len(report.policies) == facts["policies"]
    assert report.policy_domains() == facts["domains"]
    assert report.total_successes() == facts["successes"]
    assert report.total_failures() == facts["failures"]


@pytest.mark.parametrize(("name", "expected"), manifest())
def test_manifest_vectors(name: str, expected: str) -> None:
    data = (TESTDATA / name).read_bytes()
    if expected == "valid":
        result = parse_report(data)
        check_facts(result.report, FACTS[name])
        # the normalised JSON parses strictly to the same report
        again = parse_report_json(result.report.to_json(), strict=True)
        assert again.report == result.report
        assert again.warnings == []
    else:
        with pytest.raises(TLSRPTError) as ei:
            parse_report(data)
        assert str(ei.value)


@pytest.mark.parametrize("name", ["rfc8460.json", "smtp_tls.json"])
def test_gzip_of_each_valid_vector(name: str, tmp_path: Path) -> None:
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress((TESTDATA / name).read_bytes()))
    check_facts(parse_report(gz.read_bytes()).report, FACTS[name])


def test_rfc8460_details() -> None:
    result = parse_report((TESTDATA / "rfc8460.json").read_bytes())
    p = result.report.policies[0]
    assert p.policy.policy_type is PolicyType.STS
    assert p.policy.mx_hosts == ["*.mail.company-y.example"]
    assert p.policy.policy_strings[1] == "mode: testing"
    assert [f.result_type for f in p.failure_details] == [
        ResultType.CERTIFICATE_EXPIRED,
        ResultType.STARTTLS_NOT_SUPPORTED,
        ResultType.VALIDATION_FAILURE,
    ]
    assert p.failure_details[2].failure_reason_code == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
    # the old string form of mx-host is accepted, with a warning naming the path
    assert result.warnings == [
        "policies[0].policy.mx-host: string instead of an array (RFC 8460 erratum 6241)"
    ]
    with pytest.raises(TLSRPTReportError) as ei:
        parse_report((TESTDATA / "rfc8460.json").read_bytes(), strict=True)
    assert ei.value.path == "policies[0].policy.mx-host"


def _report_email(attachment: bytes, ctype: str = "application/tlsrpt+gzip") -> bytes:
    msg = EmailMessage()
    msg["From"] = "noreply-smtp-tls-reporting@example.net"
    msg["To"] = "tlsrpt@example.com"
    msg["Subject"] = "Report Domain: example.com Submitter: example.net Report-ID: <x@y>"
    msg["TLS-Report-Domain"] = "example.com"
    msg["TLS-Report-Submitter"] = "example.net"
    msg.set_content("This is an aggregate TLS report.")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(
        attachment,
        maintype=maintype,
        subtype=subtype,
        filename="example.net!example.com!1704758400!1704844799.json.gz",
    )
    msg.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"')
    return msg.as_bytes()


@pytest.mark.parametrize("name", ["rfc8460.json", "smtp_tls.json"])
def test_whole_report_email_gzip(name: str) -> None:
    raw = _report_email(gzip.compress((TESTDATA / name).read_bytes()))
    assert b"multipart/report" in raw
    check_facts(parse_report(raw).report, FACTS[name])


def test_whole_report_email_json_part() -> None:
    raw = _report_email((TESTDATA / "smtp_tls.json").read_bytes(), "application/tlsrpt+json")
    check_facts(parse_report(raw).report, FACTS["smtp_tls.json"])


def test_email_without_report() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "hello"
    msg.set_content("no report here")
    with pytest.raises(TLSRPTInputError, match="no TLS report"):
        parse_report(msg.as_bytes())


def test_email_with_broken_report_names_part() -> None:
    raw = _report_email(gzip.compress(b'{"organization-name": 1}'))
    with pytest.raises(TLSRPTReportError, match=r"message part \d+ \(application/tlsrpt\+gzip"):
        parse_report(raw)


def _minimal() -> dict[str, Any]:
    return {
        "organization-name": "Org",
        "date-range": {
            "start-datetime": "2024-01-01T00:00:00Z",
            "end-datetime": "2024-01-01T23:59:59Z",
        },
        "contact-info": "tls@org.example",
        "report-id": "r1",
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1"],
                    "policy-domain": "example.com",
                    "mx-host": ["mx.example.com"],
                },
                "summary": {
                    "total-successful-session-count": 1,
                    "total-failure-session-count": 1,
                },
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "192.0.2.1",
                        "receiving-mx-hostname": "mx.example.com",
                        "failed-session-count": 1,
                    }
                ],
            }
        ],
    }


def test_minimal_strict_ok() -> None:
    r = parse_report_json(json.dumps(_minimal()), strict=True)
    assert r.warnings == []


def test_lenient_real_world_deviations() -> None:
    d = _minimal()
    d["contact-info"] = None
    del d["policies"][0]["policy"]["policy-domain"]
    del d["policies"][0]["failure-details"][0]["sending-mta-ip"]
    result = parse_report_json(json.dumps(d).encode())
    assert result.report.contact_info == ""
    assert result.report.policies[0].policy.policy_domain == ""
    assert result.report.policies[0].failure_details[0].sending_mta_ip == ""
    assert result.warnings == [
        "contact-info: required field is null",
        "policies[0].policy.policy-domain: required field missing",
        "policies[0].failure-details[0].sending-mta-ip: required field missing",
    ]
    with pytest.raises(TLSRPTReportError) as ei:
        parse_report_json(json.dumps(d), strict=True)
    assert ei.value.path == "contact-info"


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda d: d.pop("organization-name"), "organization-name", "missing"),
        (lambda d: d.pop("policies"), "policies", "missing"),
        (lambda d: d.update({"policies": {}}), "policies", "expected array"),
        (
            lambda d: d["policies"][0]["summary"].update({"total-failure-session-count": "x"}),
            "policies[0].summary.total-failure-session-count",
            "non-negative integer",
        ),
        (
            lambda d: d["policies"][0]["summary"].update({"total-failure-session-count": -1}),
            "policies[0].summary.total-failure-session-count",
            "out of range",
        ),
        (
            lambda d: d["policies"][0]["summary"].update({"total-failure-session-count": True}),
            "policies[0].summary.total-failure-session-count",
            "got boolean",
        ),
        (
            lambda d: d["policies"][0]["policy"].update({"policy-type": "dane"}),
            "policies[0].policy.policy-type",
            "unknown policy type",
        ),
        (
            lambda d: d["policies"][0]["failure-details"][0].pop("failed-session-count"),
            "policies[0].failure-details[0].failed-session-count",
            "missing",
        ),
        (
            lambda d: d["date-range"].update({"start-datetime": "yesterday"}),
            "date-range.start-datetime",
            "date-time",
        ),
        (
            lambda d: d["policies"][0]["policy"].update({"mx-host": [1]}),
            "policies[0].policy.mx-host[0]",
            "expected string",
        ),
    ],
)
def test_errors_say_where(mutate: Any, path: str, fragment: str) -> None:
    d = _minimal()
    mutate(d)
    for strict in (False, True):
        with pytest.raises(TLSRPTReportError) as ei:
            parse_report_json(json.dumps(d), strict=strict)
        assert ei.value.path == path
        assert fragment in str(ei.value)
        assert str(ei.value).startswith(path + ": ")


def test_unknown_result_type_lenient_only() -> None:
    d = _minimal()
    d["policies"][0]["failure-details"][0]["result-type"] = "new-type"
    r = parse_report_json(json.dumps(d))
    assert r.report.policies[0].failure_details[0].result_type == "new-type"
    with pytest.raises(TLSRPTReportError, match="unknown result type"):
        parse_report_json(json.dumps(d), strict=True)


def test_invalid_json_position() -> None:
    with pytest.raises(TLSRPTInputError, match=r"line 2, column"):
        parse_report(b'{"a":\n ]')


def test_not_utf8() -> None:
    with pytest.raises(TLSRPTInputError, match="UTF-8"):
        parse_report(b'{"a": "\xff"}')


def test_deep_nesting_rejected() -> None:
    with pytest.raises(TLSRPTInputError):
        parse_report(b"[" * 100_000 + b"]" * 100_000)


def test_gzip_bomb_rejected() -> None:
    bomb = gzip.compress(b"{" + b" " * (11 * 1024 * 1024) + b"}")
    assert len(bomb) < 100_000
    with pytest.raises(TLSRPTLimitError, match="decompresses to more than"):
        parse_report(bomb)


def test_gzip_bomb_in_email_rejected() -> None:
    bomb = gzip.compress(b" " * (11 * 1024 * 1024))
    with pytest.raises(TLSRPTLimitError):
        parse_report(_report_email(bomb))


def test_truncated_gzip() -> None:
    data = gzip.compress((TESTDATA / "smtp_tls.json").read_bytes())
    with pytest.raises(TLSRPTInputError, match="gzip"):
        parse_report(data[: len(data) // 2])


def test_input_and_count_limits() -> None:
    data = (TESTDATA / "smtp_tls.json").read_bytes()
    with pytest.raises(TLSRPTLimitError):
        parse_report(data, limits=Limits(max_input_bytes=100))
    d = _minimal()
    d["policies"] = d["policies"] * 3
    with pytest.raises(TLSRPTLimitError, match="policies"):
        parse_report_json(json.dumps(d), limits=Limits(max_policies=2))
    with pytest.raises(TLSRPTLimitError, match="failure details"):
        parse_report_json(json.dumps(d), limits=Limits(max_failure_details=2))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_round_trip(report: Report) -> None:
    text = report.to_json()
    strict = parse_report_json(text, strict=True)
    assert strict.report == report
    assert parse_report(gzip.compress(text.encode())).report == report


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_only_package_errors(data: bytes) -> None:
    for candidate in (data, b"{" + data, gzip.compress(data), b"Subject: x\r\n\r\n" + data):
        try:
            parse_report(candidate)
        except TLSRPTError:
            pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "organization-name",
                    "date-range",
                    "policies",
                    "policy",
                    "summary",
                    "failure-details",
                    "policy-type",
                    "mx-host",
                    "result-type",
                    "failed-session-count",
                    "start-datetime",
                    "report-id",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300)
@given(json_values)
def test_random_json_only_package_errors(value: Any) -> None:
    for strict in (False, True):
        try:
            parse_report_json(json.dumps(value), strict=strict)
        except TLSRPTError:
            pass


def test_json_values_are_counted_before_decoding() -> None:
    """Millions of tiny values are refused by a count, before json.loads builds them."""
    with pytest.raises(TLSRPTLimitError, match="more than 1000 JSON values"):
        parse_report(b"[" + b"[]," * 100_000 + b"[]]", limits=Limits(max_json_values=1000))
    with pytest.raises(TLSRPTLimitError, match="JSON values"):
        parse_report(gzip.compress(b"[" + b"0," * 300_000 + b"0]"))


def test_work_is_counted_per_message() -> None:
    """Each part is under the limits; together they are not."""
    part = gzip.compress(b'{"x": "' + b"a" * 600 + b'"}')
    limits = Limits(max_decompressed_bytes=1000)
    with pytest.raises(TLSRPTReportError):
        parse_report(_report_email(part), limits=limits)
    msg = EmailMessage()
    msg["From"] = "noreply-smtp-tls-reporting@example.net"
    msg.set_content("two parts")
    for i in range(2):
        msg.add_attachment(part, maintype="application", subtype="tlsrpt+gzip", filename=f"{i}.gz")
    with pytest.raises(TLSRPTLimitError, match="more than 1000 bytes in this message"):
        parse_report(bytes(msg), limits=limits)
