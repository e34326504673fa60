"""DMARC record parsing, discovery, alignment and disposition (RFC 7489, RFC 9989 t=)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.auth import AuthResults, DKIMResult, DMARCResult, SPFResult
from postel.auth.dmarc import evaluate_dmarc, parse_record, select_record
from postel.auth.domain import aligned, organizational_domain
from postel.auth.errors import DMARCSyntaxError, FromHeaderError
from postel.auth.fromheader import author_domain
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver


def txt(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def test_parse_record() -> None:
    rec = parse_record(
        "v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; "
        "rua=mailto:dmarc@example.com!10m, mailto:other@example.net; ruf=mailto:f@example.com; "
        "fo=1; x_ext=1; bad tag; x-y=2"
    )
    assert rec.policy == "reject"
    assert rec.subdomain_policy == "quarantine"
    assert rec.pct == 50
    assert rec.adkim == "s" and rec.aspf == "r"
    assert rec.rua == ("mailto:dmarc@example.com", "mailto:other@example.net")
    assert rec.ruf == ("mailto:f@example.com",)
    assert rec.extensions == (("x_ext", "1"),)
    assert not rec.testing


def test_parse_defaults_and_testing() -> None:
    rec = parse_record("v=DMARC1;p=none")
    assert (rec.policy, rec.subdomain_policy, rec.pct, rec.adkim, rec.aspf, rec.rua) == (
        "none",
        None,
        100,
        "r",
        "r",
        (),
    )
    assert parse_record("v=DMARC1; p=reject; t=y").testing


def test_missing_policy_with_rua_is_none() -> None:
    rec = parse_record("v=DMARC1; rua=mailto:r@example.com")
    assert rec.policy == "none" and rec.policy_missing


@pytest.mark.parametrize(
    ("record", "tag"),
    [
        ("v=DMARC1", "p"),
        ("v=DMARC1; p=block", "p"),
        ("v=DMARC1; p=none; pct=101", "pct"),
        ("v=DMARC1; p=none; pct=x", "pct"),
        ("v=DMARC1; p=none; adkim=x", "adkim"),
        ("v=DMARC1; p=none; aspf=relaxed", "aspf"),
        ("v=DMARC2; p=none", "v"),
    ],
)
def test_invalid_records(record: str, tag: str) -> None:
    with pytest.raises(DMARCSyntaxError) as info:
        parse_record(record)
    assert info.value.tag == tag


def test_select_record() -> None:
    assert select_record(["v=spf1 -all", "v=DMARC1; p=none"]) == "v=DMARC1; p=none"
    assert select_record(["v=DMARC1; p=none", "v=DMARC1; p=reject"]) is None
    assert select_record(["p=none; v=DMARC1"]) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="v=DMARC1;prejctnoqua sf%@:!0123456789,.xmilto-", max_size=80))
def test_record_parser_raises_only_package_errors(text: str) -> None:
    try:
        parse_record(text)
    except DMARCSyntaxError:
        pass


def test_org_domain_and_alignment() -> None:
    assert organizational_domain("mail.example.com") == "example.com"
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert aligned("mail.example.com", "example.com", strict=False)
    assert not aligned("mail.example.com", "example.com", strict=True)
    assert aligned("Example.com.", "example.com", strict=True)
    assert not aligned("example.net", "example.com", strict=False)
    assert not aligned("a.co.uk", "b.co.uk", strict=False)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"From: Alice <alice@Example.COM>\r\n\r\nx", "example.com"),
        (b"from:\r\n bob@sub.example.com\r\n\r\nx", "sub.example.com"),
        (b"From: a@example.com\r\nFrom: b@example.com\r\n\r\nx", "example.com"),
        (b"From: a@example.com, b@example.com\r\n\r\nx", "example.com"),
        (b"Subject: no from\r\n\r\nFrom: a@example.com\r\n", None),
    ],
)
def test_author_domain(message: bytes, expected: str | None) -> None:
    assert author_domain(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        b"From: a@example.com\r\nFrom: b@example.net\r\n\r\nx",
        b"From: a@example.com, b@example.net\r\n\r\nx",
        b"From: undisclosed-recipients\r\n\r\nx",
        b"From: a@exa mple..com\r\n\r\nx",
    ],
)
def test_author_domain_errors(message: bytes) -> None:
    with pytest.raises(FromHeaderError):
        author_domain(message)


SPF_PASS = SPFResult("pass", "example.com")
SPF_FAIL = SPFResult("fail", "example.com")
DKIM_PASS = [DKIMResult("pass", "example.com", "s", "ed25519-sha256")]
DKIM_FAIL = [DKIMResult("fail", "example.com", "s", "ed25519-sha256")]


def dns(records: dict[str, str]) -> MockResolver:
    return MockResolver({(f"_dmarc.{d}", "TXT"): [txt(r)] for d, r in records.items()})


async def test_pass_by_spf_or_dkim() -> None:
    r = dns({"example.com": "v=DMARC1; p=reject; rua=mailto:agg@example.com"})
    res = await evaluate_dmarc(r, "example.com", SPF_PASS, DKIM_FAIL)
    assert (res.result, res.aligned_spf, res.aligned_dkim) == ("pass", True, False)
    assert res.policy == "reject"
    assert res.rua == ["mailto:agg@example.com"]
    res = await evaluate_dmarc(r, "example.com", SPF_FAIL, DKIM_PASS)
    assert (res.result, res.aligned_spf, res.aligned_dkim) == ("pass", False, True)


async def test_fail_and_unaligned_pass() -> None:
    r = dns({"example.com": "v=DMARC1; p=quarantine"})
    res = await evaluate_dmarc(r, "example.com", SPF_FAIL, DKIM_FAIL)
    assert res.result == "fail" and res.policy == "quarantine"
    # Passing for another domain does not help.
    res = await evaluate_dmarc(
        r,
        "example.com",
        SPFResult("pass", "example.net"),
        [DKIMResult("pass", "evil.example", "s", "rsa-sha256")],
    )
    assert res.result == "fail"


async def test_relaxed_and_strict_alignment() -> None:
    relaxed = dns({"example.com": "v=DMARC1; p=reject"})
    strict = dns({"example.com": "v=DMARC1; p=reject; adkim=s; aspf=s"})
    spf_sub = SPFResult("pass", "bounces.example.com")
    dkim_sub = [DKIMResult("pass", "mail.example.com", "s", "rsa-sha256")]
    assert (await evaluate_dmarc(relaxed, "example.com", spf_sub, [])).aligned_spf
    assert (await evaluate_dmarc(relaxed, "example.com", SPF_FAIL, dkim_sub)).aligned_dkim
    res = await evaluate_dmarc(strict, "example.com", spf_sub, dkim_sub)
    assert res.result == "fail" and not res.aligned_spf and not res.aligned_dkim


async def test_org_domain_fallback_uses_sp() -> None:
    r = dns({"example.com": "v=DMARC1; p=reject; sp=quarantine"})
    res = await evaluate_dmarc(r, "news.example.com", SPF_FAIL, [])
    assert res.result == "fail"
    assert res.policy == "quarantine"
    assert res.record_domain == "example.com"
    assert res.org_domain == "example.com"
    assert ("_dmarc.news.example.com.", "TXT") in r.queries
    # Without sp, p applies to subdomains.
    r2 = dns({"example.com": "v=DMARC1; p=reject"})
    assert (await evaluate_dmarc(r2, "news.example.com", SPF_FAIL, [])).policy == "reject"


async def test_no_record_temperror_permerror() -> None:
    assert (await evaluate_dmarc(dns({}), "example.com", SPF_FAIL, [])).result == "none"
    r = MockResolver({("_dmarc.example.com", "TXT"): TemporaryError("SERVFAIL")})
    assert (await evaluate_dmarc(r, "example.com", SPF_FAIL, [])).result == "temperror"
    bad = dns({"example.com": "v=DMARC1; p=maybe"})
    res = await evaluate_dmarc(bad, "example.com", SPF_FAIL, [])
    assert res.result == "permerror" and "p" in res.reason


async def test_temporary_identifier_error_is_temperror() -> None:
    r = dns({"example.com": "v=DMARC1; p=reject"})
    res = await evaluate_dmarc(r, "example.com", SPFResult("temperror", "example.com"), [])
    assert res.result == "temperror"


def results(dmarc: DMARCResult) -> AuthResults:
    return AuthResults(SPF_FAIL, [], dmarc)


@pytest.mark.parametrize(
    ("dmarc", "sample", "expected"),
    [
        (DMARCResult("fail", "reject", "example.com"), None, "reject"),
        (DMARCResult("fail", "quarantine", "example.com"), None, "junk"),
        (DMARCResult("fail", "none", "example.com"), None, "accept"),
        (DMARCResult("pass", "reject", "example.com"), None, "accept"),
        (DMARCResult("none"), None, "accept"),
        (DMARCResult("temperror", "reject"), None, "accept"),
        (DMARCResult("permerror"), None, "accept"),
        # pct: inside the sample the policy applies, outside the next weaker one.
        (DMARCResult("fail", "reject", "example.com", pct=30), 0.29, "reject"),
        (DMARCResult("fail", "reject", "example.com", pct=30), 0.30, "junk"),
        (DMARCResult("fail", "quarantine", "example.com", pct=30), 0.5, "accept"),
        (DMARCResult("fail", "reject", "example.com", pct=0), 0.0, "junk"),
        # t=y (RFC 9989): one step weaker.
        (DMARCResult("fail", "reject", "example.com", testing=True), None, "junk"),
        (DMARCResult("fail", "quarantine", "example.com", testing=True), None, "accept"),
    ],
)
def test_disposition(dmarc: DMARCResult, sample: float | None, expected: str) -> None:
    assert results(dmarc).disposition(sample) == expected


def test_pct_sampling_is_random() -> None:
    r = results(DMARCResult("fail", "reject", "example.com", pct=50))
    seen = {r.disposition() for _ in range(200)}
    assert seen == {"reject", "junk"}
