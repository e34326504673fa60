"""Chain verification against TLSA records (RFC 7671 §5, RFC 7672 §3)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from postel.dane import (
    REASON_DANE_NO_MATCH,
    RESULT_CERTIFICATE_EXPIRED,
    RESULT_HOST_MISMATCH,
    RESULT_TLSA_INVALID,
    RESULT_VALIDATION_FAILURE,
    TLSARecord,
    tlsa_for,
    verify_chain,
)

NAMES = ("mx.example.org",)


def _spki(cert) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _assert_no_match(result) -> None:
    assert not result.matched
    assert result.result_type == RESULT_VALIDATION_FAILURE
    assert result.failure_reason == REASON_DANE_NO_MATCH


# --- DANE-EE ---------------------------------------------------------------


@pytest.mark.parametrize(("selector", "mtype"), [(s, m) for s in (0, 1) for m in (0, 1, 2)])
def test_ee_matches_cert_and_spki_all_matching_types(pki, now, selector, mtype) -> None:
    rec = tlsa_for(pki.leaf.cert, 3, selector, mtype)
    assert rec.usable
    result = verify_chain(pki.chain, [rec], NAMES, now)
    assert result.matched and result.record == rec
    assert result.result_type is None and result.failure_reason is None


def test_ee_mismatch(pki, now) -> None:
    rec = tlsa_for(pki.intermediate.cert, 3, 1, 1)  # not the leaf
    result = verify_chain(pki.chain, [rec], NAMES, now)
    _assert_no_match(result)
    assert result.usable_records == (rec,)


def test_ee_ignores_expiry_and_name(make_cert, now) -> None:
    # RFC 7672 §3.1.1: neither name nor validity dates are checked for DANE-EE.
    leaf = make_cert(
        "other.example",
        names=["other.example"],
        not_after=now - dt.timedelta(days=400),
        not_before=now - dt.timedelta(days=800),
    )
    result = verify_chain([leaf.der], [tlsa_for(leaf.cert)], NAMES, now)
    assert result.matched


def test_ee_matches_only_leaf_not_intermediate(pki, now) -> None:
    # A DANE-EE record for a chain certificate other than the leaf does not match.
    rec = TLSARecord(3, 0, 0, pki.intermediate.der)
    _assert_no_match(verify_chain(pki.chain, [rec], NAMES, now))


def test_ee_by_raw_der_even_when_unparsable(now) -> None:
    garbage = b"\x30\x03\x02\x01\x00"
    rec = TLSARecord(3, 0, 0, garbage)
    assert not rec.usable  # full certificate data must parse
    digest = TLSARecord.from_text("3 0 1 " + hashlib.sha256(garbage).hexdigest())
    assert verify_chain([garbage], [digest], NAMES, now).matched
    assert verify_chain([garbage], [rec], NAMES, now).result_type == RESULT_TLSA_INVALID


# --- DANE-TA ---------------------------------------------------------------


@pytest.mark.parametrize(("selector", "mtype"), [(0, 1), (1, 1), (0, 2), (1, 2), (1, 0)])
def test_ta_intermediate_from_chain(pki, now, selector, mtype) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, selector, mtype)
    result = verify_chain(pki.chain, [rec], ["MX.example.org."], now)
    assert result.matched, result.detail
    assert result.record == rec
    assert result.name == "MX.example.org."


def test_ta_full_cert_anchor_not_in_chain(pki, now) -> None:
    rec = TLSARecord(2, 0, 0, pki.intermediate.der)
    result = verify_chain([pki.leaf.der], [rec], NAMES, now)
    assert result.matched, result.detail


def test_ta_full_root_cert_anchor_root_not_sent(pki, now) -> None:
    rec = TLSARecord(2, 0, 0, pki.root.der)
    assert verify_chain(pki.chain, [rec], NAMES, now).matched


def test_ta_root_key_anchor_root_not_sent(pki, now) -> None:
    # "2 1 0": the bare key anchors the intermediate it signed (RFC 7671 §5.2.3).
    rec = TLSARecord(2, 1, 0, _spki(pki.root.cert))
    assert verify_chain(pki.chain, [rec], NAMES, now).matched


def test_ta_root_digest_needs_root_in_chain(pki, now) -> None:
    rec = tlsa_for(pki.root.cert, 2, 0, 1)
    _assert_no_match(verify_chain(pki.chain, [rec], NAMES, now))
    # Out of order, with the root sent: still found.
    chain = [pki.leaf.der, pki.root.der, pki.intermediate.der]
    assert verify_chain(chain, [rec], NAMES, now).matched


def test_ta_first_matching_chain_cert_is_anchor(make_cert, now) -> None:
    # The path ends at the anchor: an expired root above it does not matter...
    root = make_cert(
        "Expired Root",
        ca=True,
        not_before=now - dt.timedelta(days=900),
        not_after=now - dt.timedelta(days=1),
    )
    inter = make_cert("Inter", root, ca=True)
    leaf = make_cert("mx.example.org", inter, names=["mx.example.org"])
    chain = [leaf.der, inter.der, root.der]
    assert verify_chain(chain, [tlsa_for(inter.cert, 2, 1, 1)], NAMES, now).matched
    # ...but it does when the root is the anchor (validity checked along the path).
    result = verify_chain(chain, [tlsa_for(root.cert, 2, 1, 1)], NAMES, now)
    assert result.result_type == RESULT_CERTIFICATE_EXPIRED


def test_ta_wrong_name_fails(pki, now) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, 0, 1)
    result = verify_chain(pki.chain, [rec], ["mx.example.net"], now)
    assert not result.matched
    assert result.result_type == RESULT_HOST_MISMATCH
    assert result.failure_reason is None
    assert result.record == rec
    assert "mx.example.net" in result.detail


def test_ta_expired_leaf_fails(make_cert, pki, now) -> None:
    leaf = make_cert(
        "mx.example.org",
        pki.intermediate,
        names=["mx.example.org"],
        not_before=now - dt.timedelta(days=90),
        not_after=now - dt.timedelta(days=1),
    )
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    result = verify_chain([leaf.der, pki.intermediate.der], [rec], NAMES, now)
    assert not result.matched
    assert result.result_type == RESULT_CERTIFICATE_EXPIRED
    assert "server certificate expired" in result.detail
    # The same leaf is fine for DANE-EE.
    assert verify_chain([leaf.der], [tlsa_for(leaf.cert)], NAMES, now).matched


def test_ta_not_yet_valid_leaf_fails(make_cert, pki, now) -> None:
    leaf = make_cert(
        "mx.example.org",
        pki.intermediate,
        names=["mx.example.org"],
        not_before=now + dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=90),
    )
    rec = TLSARecord(2, 0, 0, pki.intermediate.der)
    result = verify_chain([leaf.der], [rec], NAMES, now)
    assert result.result_type == RESULT_CERTIFICATE_EXPIRED
    assert "not valid before" in result.detail


def test_ta_expired_intermediate_fails(make_cert, pki, now) -> None:
    inter = make_cert(
        "Old Intermediate",
        pki.root,
        ca=True,
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=10),
    )
    leaf = make_cert("mx.example.org", inter, names=["mx.example.org"])
    rec = TLSARecord(2, 0, 0, pki.root.der)
    result = verify_chain([leaf.der, inter.der], [rec], NAMES, now)
    assert result.result_type == RESULT_CERTIFICATE_EXPIRED
    assert "Old Intermediate" in result.detail


def test_ta_naive_now_is_utc(pki) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    naive_late = (pki.leaf.cert.not_valid_after_utc + dt.timedelta(days=1)).replace(tzinfo=None)
    assert verify_chain(pki.chain, [rec], NAMES, naive_late).result_type == (
        RESULT_CERTIFICATE_EXPIRED
    )


def test_ta_forged_leaf_with_same_issuer_name_fails(make_cert, pki, now) -> None:
    # Signed by another key that only claims the intermediate's name.
    impostor = make_cert("Impostor", ca=True)
    leaf = make_cert(
        "mx.example.org",
        impostor,
        names=["mx.example.org"],
        issuer_name=pki.intermediate.cert.subject,
    )
    rec = tlsa_for(pki.intermediate.cert, 2, 0, 1)
    result = verify_chain([leaf.der, pki.intermediate.der], [rec], NAMES, now)
    _assert_no_match(result)
    assert "does not chain" in result.detail


def test_ta_issuer_must_be_ca(make_cert, pki, now) -> None:
    not_ca = make_cert("Not A CA", pki.intermediate)  # end-entity cert with CA=false
    leaf = make_cert("mx.example.org", not_ca, names=["mx.example.org"])
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    _assert_no_match(verify_chain([leaf.der, not_ca.der, pki.intermediate.der], [rec], NAMES, now))
    # Also when the non-CA certificate itself is the trust anchor.
    rec2 = tlsa_for(not_ca.cert, 2, 1, 1)
    _assert_no_match(verify_chain([leaf.der, not_ca.der], [rec2], NAMES, now))


def test_ta_path_length_constraint(make_cert, now) -> None:
    root = make_cert("Constrained Root", ca=True, path_length=0)
    inter = make_cert("Inter", root, ca=True)
    leaf = make_cert("mx.example.org", inter, names=["mx.example.org"])
    rec = TLSARecord(2, 0, 0, root.der)
    _assert_no_match(verify_chain([leaf.der, inter.der], [rec], NAMES, now))
    # Anchored at the intermediate, the root's constraint is not on the path.
    rec2 = tlsa_for(inter.cert, 2, 0, 1)
    assert verify_chain([leaf.der, inter.der], [rec2], NAMES, now).matched


def test_ta_ed25519_and_rsa_keys(make_cert, now) -> None:
    root = make_cert("Ed Root", ca=True, key_kind="ed25519")
    inter = make_cert("RSA Inter", root, ca=True, key_kind="rsa")
    leaf = make_cert("mx.example.org", inter, names=["mx.example.org"])
    chain = [leaf.der, inter.der]
    assert verify_chain(chain, [TLSARecord(2, 1, 0, _spki(root.cert))], NAMES, now).matched
    assert verify_chain([leaf.der], [TLSARecord(2, 1, 0, _spki(inter.cert))], NAMES, now).matched


def test_ta_leaf_itself_as_anchor(pki, now) -> None:
    rec = tlsa_for(pki.leaf.cert, 2, 0, 1)
    result = verify_chain(pki.chain, [rec], NAMES, now)
    assert result.matched
    assert not verify_chain(pki.chain, [rec], ["other.example"], now).matched


def test_ta_unparsable_leaf_is_failure_not_exception(pki, now) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    _assert_no_match(verify_chain([b"garbage", pki.intermediate.der], [rec], NAMES, now))


# --- names -------------------------------------------------------------------


def test_ta_wildcard_and_second_allowed_name(make_cert, pki, now) -> None:
    leaf = make_cert("wild", pki.intermediate, names=["*.example.org"])
    chain = [leaf.der, pki.intermediate.der]
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    assert verify_chain(chain, [rec], ["mx.example.org"], now).name == "mx.example.org"
    assert not verify_chain(chain, [rec], ["a.b.example.org"], now).matched
    assert not verify_chain(chain, [rec], ["example.org"], now).matched
    res = verify_chain(chain, [rec], ["mx.example.net", "smtp.example.org"], now)
    assert res.matched and res.name == "smtp.example.org"


def test_ta_common_name_only_without_dns_san(make_cert, pki, now) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, 1, 1)
    cn_only = make_cert("mx.example.org", pki.intermediate)
    assert verify_chain([cn_only.der, pki.intermediate.der], [rec], NAMES, now).matched
    san_other = make_cert("mx.example.org", pki.intermediate, names=["other.example.org"])
    result = verify_chain([san_other.der, pki.intermediate.der], [rec], NAMES, now)
    assert result.result_type == RESULT_HOST_MISMATCH


# --- record sets ----------------------------------------------------------------


def test_only_unusable_records_is_tlsa_invalid(pki, now) -> None:
    records = [
        tlsa_for(pki.leaf.cert, 1, 1, 1),  # PKIX-EE, would match
        tlsa_for(pki.root.cert, 0, 0, 1),  # PKIX-TA
        TLSARecord.from_text("3 1 1 " + "00" * 31),  # bad length
        TLSARecord.from_text("3 0 0 00112233"),  # garbage certificate
    ]
    result = verify_chain(pki.chain, records, NAMES, now)
    assert not result.matched
    assert result.result_type == RESULT_TLSA_INVALID
    assert result.failure_reason is None
    assert result.usable_records == ()
    assert "PKIX" in result.detail and "needs 32 bytes" in result.detail


def test_no_records_is_tlsa_invalid(pki, now) -> None:
    assert verify_chain(pki.chain, [], NAMES, now).result_type == RESULT_TLSA_INVALID


def test_unusable_records_skipped_when_usable_match(pki, now) -> None:
    good = tlsa_for(pki.leaf.cert)
    records = [TLSARecord.from_text("1 1 1 " + "00" * 32), tlsa_for(pki.root.cert, 3, 1, 1), good]
    result = verify_chain(pki.chain, records, NAMES, now)
    assert result.matched and result.record == good
    assert len(result.usable_records) == 2


def test_ta_failure_reported_over_plain_no_match(pki, now) -> None:
    # An EE mismatch plus a TA that anchors but fails the name: report the name problem.
    records = [tlsa_for(pki.root.cert, 3, 1, 1), tlsa_for(pki.intermediate.cert, 2, 1, 1)]
    result = verify_chain(pki.chain, records, ["wrong.example"], now)
    assert result.result_type == RESULT_HOST_MISMATCH


def test_empty_chain(pki, now) -> None:
    result = verify_chain([], [tlsa_for(pki.leaf.cert)], NAMES, now)
    _assert_no_match(result)
    assert "no certificate" in result.detail


def test_parsed_certificates_accepted(pki, now) -> None:
    rec = tlsa_for(pki.intermediate.cert, 2, 0, 1)
    assert verify_chain([pki.leaf.cert, pki.intermediate.cert], [rec], NAMES, now).matched


def test_default_now_is_current_time(make_cert) -> None:
    leaf = make_cert(
        "mx.example.org",
        names=["mx.example.org"],
        ca=False,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    # Self-signed leaf as its own DANE-TA anchor, checked at the real current time.
    assert verify_chain([leaf.der], [tlsa_for(leaf.cert, 2, 0, 1)], NAMES).matched
