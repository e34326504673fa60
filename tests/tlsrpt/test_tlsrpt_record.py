"""TLSRPT TXT record parsing and selection (RFC 8460 §3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.dns.errors import TemporaryError
from postel.dns.mock import MockResolver
from postel.tlsrpt import MultipleRecordsError, RecordError, parse_record, select_record
from postel.tlsrpt.lookup import lookup_record
from postel.tlsrpt.record import Record, record_name


def test_single_mailto() -> None:
    r = parse_record("v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
    assert r.rua == ["mailto:tlsrpt@example.com"]
    assert r.mailto_addresses() == ["tlsrpt@example.com"]
    assert r.https_uris() == []


def test_multiple_rua_mixed_schemes_and_whitespace() -> None:
    r = parse_record("v=TLSRPTv1 ;rua=mailto:a@example.com , https://reports.example.net/tlsrpt;")
    assert r.rua == ["mailto:a@example.com", "https://reports.example.net/tlsrpt"]
    assert r.https_uris() == ["https://reports.example.net/tlsrpt"]


def test_extension_kept() -> None:
    r = parse_record("v=TLSRPTv1; rua=mailto:a@example.com; ext_1=value")
    assert r.extensions == [("ext_1", "value")]
    assert parse_record(r.to_txt()) == r


def test_rua_given_more_than_once_uses_every_uri() -> None:
    """RFC 8460 §3's grammar repeats tlsrpt-field: a second rua is valid."""
    r = parse_record(
        "v=TLSRPTv1; rua=mailto:a@example.com; ext=1; rua=https://r.example/v1,mailto:a@example.com"
    )
    assert r.rua == ["mailto:a@example.com", "https://r.example/v1"]
    assert r.mailto_addresses() == ["a@example.com"] and r.https_uris() == ["https://r.example/v1"]


def test_mailto_with_query_and_escape() -> None:
    r = parse_record("v=TLSRPTv1; rua=mailto:tls%2Brpt@example.com?subject=x")
    assert r.mailto_addresses() == ["tls+rpt@example.com"]


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("v=TLSRPTv1", "rua", "required field missing"),
        ("v=TLSRPTv1;", "rua", "required field missing"),
        ("v=TLSRPTv1; rua=", "rua", "empty URI"),
        ("v=TLSRPTv1; rua=ftp://example.com/x", "rua", "unsupported URI scheme"),
        ("v=TLSRPTv1; rua=mailto:nobody", "rua", "valid address"),
        ("v=TLSRPTv1; rua=https:/no-host", "rua", "without a host"),
        ("v=TLSRPTv1; rua=https://", "rua", "without a host"),
        ("v=TLSRPTv1; rua=tlsrpt@example.com", "rua", "not a URI"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; bad", "record", "without '='"),
        ("v=TLSRPTv1; rua=mailto:a@example.com;; x=y", "record", "empty field"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; -x=y", "-x", "extension name"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", "x", "extension value"),
        ("v=TLSRPTv2; rua=mailto:a@example.com", "v", "v=TLSRPTv1"),
        ("rua=mailto:a@example.com; v=TLSRPTv1", "v", "v=TLSRPTv1"),
    ],
)
def test_invalid_records_name_the_field(text: str, field: str, fragment: str) -> None:
    with pytest.raises(RecordError) as ei:
        parse_record(text)
    assert ei.value.field == field
    assert str(ei.value).startswith(f"{field}: ")
    assert fragment in str(ei.value)


def test_select_ignores_other_txt() -> None:
    r = select_record(["v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com", "hello"])
    assert r == Record(rua=["mailto:a@example.com"])


def test_select_none() -> None:
    assert select_record([]) is None
    assert select_record(["v=STSv1; id=1", "v=TLSRPTv10; rua=mailto:a@b.example"]) is None


def test_select_more_than_one_is_error() -> None:
    with pytest.raises(MultipleRecordsError):
        select_record(
            ["v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"]
        )


def test_record_name() -> None:
    assert record_name("example.com.") == "_smtp._tls.example.com"


@given(st.text(max_size=200))
def test_random_text_only_record_errors(text: str) -> None:
    try:
        r = parse_record(text)
    except RecordError:
        return
    assert r.rua


async def test_lookup_found() -> None:
    resolver = MockResolver(
        {
            ("_smtp._tls.example.com", "TXT"): [
                '"v=spf1 -all"',
                '"v=TLSRPTv1; " "rua=mailto:tls@example.com"',
            ]
        }
    )
    res = await lookup_record(resolver, "example.com")
    assert res.name == "_smtp._tls.example.com"
    assert res.record is not None
    assert res.record.rua == ["mailto:tls@example.com"]
    assert res.text == "v=TLSRPTv1; rua=mailto:tls@example.com"
    assert res.authentic is True


async def test_lookup_nxdomain_and_nodata() -> None:
    resolver = MockResolver({("_smtp._tls.nodata.example", "TXT"): []})
    assert (await lookup_record(resolver, "nx.example")).record is None
    assert (await lookup_record(resolver, "nodata.example")).record is None


async def test_lookup_multiple_and_temporary() -> None:
    resolver = MockResolver(
        {
            ("_smtp._tls.two.example", "TXT"): [
                '"v=TLSRPTv1; rua=mailto:a@two.example"',
                '"v=TLSRPTv1; rua=mailto:b@two.example"',
            ],
            ("_smtp._tls.tmp.example", "TXT"): TemporaryError("SERVFAIL"),
        }
    )
    with pytest.raises(MultipleRecordsError):
        await lookup_record(resolver, "two.example")
    with pytest.raises(TemporaryError):
        await lookup_record(resolver, "tmp.example")
