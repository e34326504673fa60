"""TLSA record parsing, usability (RFC 7672 §3.1) and association data."""

from __future__ import annotations

import hashlib

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from postel.dane import (
    TLSAParseError,
    TLSARecord,
    association_data,
    policy_strings,
    tlsa_for,
    usable_records,
)

SHA256_HEX = "ab" * 32


def test_from_text_basic() -> None:
    rec = TLSARecord.from_text(f"3 1 1 {SHA256_HEX.upper()}")
    assert (rec.usage, rec.selector, rec.mtype) == (3, 1, 1)
    assert rec.data == bytes.fromhex(SHA256_HEX)
    assert rec.text() == f"3 1 1 {SHA256_HEX}"
    assert str(rec) == rec.text() == rec.policy_string()


def test_from_text_hex_split_by_whitespace_and_mnemonics() -> None:
    rec = TLSARecord.from_text(f"  DANE-TA spki sha2-256 {SHA256_HEX[:20]}\t{SHA256_HEX[20:]}\n")
    assert (rec.usage, rec.selector, rec.mtype) == (2, 1, 1)
    assert rec.data.hex() == SHA256_HEX


@pytest.mark.parametrize(
    ("text", "field", "offset"),
    [
        ("", "usage", 0),
        ("3", "selector", 1),
        ("3 1", "mtype", 3),
        ("3 1 1", "data", 5),
        ("x 1 1 00", "usage", 0),
        ("3 256 1 00", "selector", 2),
        ("3 1 -1 00", "mtype", 4),
        ("3 1 1 0g", "data", 7),
        ("3 1 1 abc", "data", 6),
        ("3 1 1 ab c", "data", 6),
        ("3 1 ١ 00", "mtype", 4),  # non-ASCII digit
    ],
)
def test_from_text_errors_name_field_and_offset(text: str, field: str, offset: int) -> None:
    with pytest.raises(TLSAParseError) as info:
        TLSARecord.from_text(text)
    assert info.value.field == field
    assert info.value.offset == offset
    assert field in str(info.value) and repr(text) in str(info.value)


def test_from_rdata() -> None:
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, f"2 0 1 {SHA256_HEX}")
    assert TLSARecord.from_rdata(rd) == TLSARecord(2, 0, 1, bytes.fromhex(SHA256_HEX))


def test_from_generic_rdata_and_wire_keep_bad_lengths() -> None:
    wire = bytes([3, 1, 1]) + b"\x00\x11"
    rd = dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, wire)
    rec = TLSARecord.from_rdata(rd)
    assert rec == TLSARecord(3, 1, 1, b"\x00\x11") == TLSARecord.from_wire(wire)
    assert not rec.usable
    with pytest.raises(TLSAParseError) as info:
        TLSARecord.from_wire(b"\x03\x01")
    assert info.value.field == "mtype"


def test_constructor_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="usage"):
        TLSARecord(256, 1, 1, b"")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"0 1 1 {SHA256_HEX}", "PKIX-TA/PKIX-EE"),
        (f"1 0 1 {SHA256_HEX}", "PKIX-TA/PKIX-EE"),
        (f"4 1 1 {SHA256_HEX}", "unknown usage 4"),
        (f"255 1 1 {SHA256_HEX}", "unknown usage 255"),
        (f"3 2 1 {SHA256_HEX}", "unknown selector 2"),
        (f"3 1 3 {SHA256_HEX}", "unknown matching type 3"),
        ("3 1 1 " + "ab" * 31, "needs 32 bytes of data, got 31"),
        ("3 1 1 " + "ab" * 64, "needs 32 bytes of data, got 64"),
        ("2 0 2 " + "ab" * 32, "needs 64 bytes of data, got 32"),
        ("3 0 0 0102030405", "not a DER certificate"),
        ("2 1 0 0102030405", "not a DER SubjectPublicKeyInfo"),
    ],
)
def test_unusable_records(text: str, reason: str) -> None:
    rec = TLSARecord.from_text(text)
    assert not rec.usable
    problem = rec.unusable_reason()
    assert problem is not None and reason in problem


def test_usable_records(pki) -> None:
    spki = pki.leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = [
        TLSARecord(3, 1, 1, bytes(32)),
        TLSARecord(2, 0, 2, bytes(64)),
        TLSARecord(3, 0, 0, pki.leaf.der),
        TLSARecord(2, 1, 0, spki),
    ]
    for rec in records:
        assert rec.usable, rec.unusable_reason()
    assert records[2].anchor_certificate() is None  # usage 3: no trust anchor
    assert TLSARecord(2, 0, 0, pki.leaf.der).anchor_certificate() == pki.leaf.cert
    assert records[3].anchor_public_key() == pki.leaf.cert.public_key()


def test_policy_strings_sorted_usable_only() -> None:
    recs = [
        TLSARecord(3, 1, 1, b"\xff" * 32),
        TLSARecord(1, 1, 1, b"\x00" * 32),
        TLSARecord(2, 0, 1, b"\x01" * 32),
        TLSARecord(3, 1, 1, b"\x00" * 32),
    ]
    assert policy_strings(recs) == [
        "2 0 1 " + "01" * 32,
        "3 1 1 " + "00" * 32,
        "3 1 1 " + "ff" * 32,
    ]
    assert usable_records(recs) == [recs[0], recs[2], recs[3]]


def test_tlsa_for_certificate_and_key(pki) -> None:
    cert = pki.leaf.cert
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rec = tlsa_for(cert)
    assert rec == TLSARecord(3, 1, 1, hashlib.sha256(spki).digest())
    assert tlsa_for(cert.public_key()) == rec
    assert tlsa_for(pki.leaf.key.public_key()) == rec
    assert rec.matches(cert)
    assert not rec.matches(pki.intermediate.cert)
    assert tlsa_for(cert, 2, 0, 2).data == hashlib.sha512(pki.leaf.der).digest()
    assert association_data(cert, 0, 0) == pki.leaf.der
    with pytest.raises(ValueError, match="selector 1"):
        association_data(cert.public_key(), 0, 1)
    with pytest.raises(ValueError, match="matching type"):
        association_data(cert, 1, 7)


records_st = st.builds(
    TLSARecord,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(min_size=1, max_size=80),
)


@given(records_st)
def test_text_roundtrip(rec: TLSARecord) -> None:
    assert TLSARecord.from_text(rec.text()) == rec


def _dnspython_accepts(rec: TLSARecord) -> bool:
    # dnspython >= 2.8 refuses digest lengths that do not fit the matching type.
    return {1: 32, 2: 64}.get(rec.mtype, len(rec.data)) == len(rec.data)


@given(records_st.filter(_dnspython_accepts))
def test_dnspython_presentation_agrees(rec: TLSARecord) -> None:
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, rec.text())
    assert TLSARecord.from_rdata(rd) == rec
    assert TLSARecord.from_text(rd.to_text()) == rec


@given(st.text(max_size=60))
def test_from_text_arbitrary_input_only_raises_parse_error(text: str) -> None:
    try:
        rec = TLSARecord.from_text(text)
    except TLSAParseError as exc:
        assert 0 <= exc.offset <= len(text)
        return
    # Whatever parsed must round-trip through the canonical form.
    assert TLSARecord.from_text(rec.text()) == rec


@given(records_st)
def test_usability_never_raises(rec: TLSARecord) -> None:
    reason = rec.unusable_reason()
    assert rec.usable == (reason is None)
    if rec.usable:
        assert rec.usage in (2, 3) and rec.selector in (0, 1) and rec.mtype in (0, 1, 2)
