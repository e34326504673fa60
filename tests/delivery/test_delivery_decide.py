"""Every row of the decision table in docs/delivery-policy.md."""

from __future__ import annotations

from pathlib import Path

from postel.dane import TLSARecord
from postel.delivery import HostTLSA, decide
from postel.dns import TemporaryError
from postel.mtasts.policy import parse_policy
from postel.smtpclient import TLSMode

ENFORCE = parse_policy("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n")
TESTING = parse_policy("version: STSv1\nmode: testing\nmx: *.example.com\nmax_age: 86400\n")
NONE = parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n")
USABLE = TLSARecord.from_text("3 1 1 " + "ab" * 32)
UNUSABLE = TLSARecord.from_text("1 1 1 " + "ab" * 32)
HOST = "mx.example.com"
OTHER = "mx.elsewhere.net"


def tlsa(*records: TLSARecord, error: Exception | None = None) -> HostTLSA:
    from postel.dane.lookup import TLSALookup

    lookup = TLSALookup(HOST, 25, HOST, f"_25._tcp.{HOST}.", (), tuple(records), True)
    return HostTLSA(True, HOST, [HOST], None if error else lookup, error)  # type: ignore[arg-type]


def test_no_policy_no_dane_opportunistic_with_fallback() -> None:
    d = decide(HOST, policy=None, tlsa=None)
    assert d.tls is not None and d.tls.mode == TLSMode.OPPORTUNISTIC
    assert not d.tls.verify_pkix and not d.tls.verify_dane and d.plaintext_fallback
    assert d.tls.pkix_name == HOST and d.tls.sni(HOST) == HOST


def test_mode_none_like_no_policy() -> None:
    d = decide(OTHER, policy=NONE, tlsa=None)
    assert d.tls is not None and d.tls.mode == TLSMode.OPPORTUNISTIC and not d.mx_mismatch


def test_testing_match_and_mismatch_only_reported() -> None:
    d = decide(HOST, policy=TESTING, tlsa=None)
    assert d.tls is not None and d.tls.mode == TLSMode.OPPORTUNISTIC and d.plaintext_fallback
    assert not d.tls.verify_pkix and not d.mx_mismatch
    d = decide(OTHER, policy=TESTING, tlsa=None)
    assert not d.skip and d.mx_mismatch and not d.mismatch_enforced and d.plaintext_fallback


def test_enforce_match_requires_starttls_and_pkix() -> None:
    d = decide(HOST, policy=ENFORCE, tlsa=None, extra_ca_files=[Path("/ca.pem")])
    assert d.tls is not None and d.tls.mode == TLSMode.STARTTLS_REQUIRED
    assert d.tls.verify_pkix and not d.plaintext_fallback
    assert d.tls.extra_ca_files == [Path("/ca.pem")]


def test_enforce_mismatch_skips_host() -> None:
    d = decide(OTHER, policy=ENFORCE, tlsa=None)
    assert d.skip and d.mx_mismatch and d.mismatch_enforced
    assert d.failure is not None and not d.failure.permanent


def test_dane_usable_enforced() -> None:
    d = decide(HOST, policy=None, tlsa=tlsa(USABLE, UNUSABLE))
    assert d.tls is not None and d.tls.mode == TLSMode.STARTTLS_REQUIRED
    assert d.tls.verify_dane and not d.tls.verify_pkix and not d.plaintext_fallback
    assert d.tls.dane_records == [USABLE, UNUSABLE] and d.tls.allowed_names == [HOST]
    assert d.dane_usable


def test_dane_with_enforce_verifies_pkix_too() -> None:
    d = decide(HOST, policy=ENFORCE, tlsa=tlsa(USABLE))
    assert d.tls is not None and d.tls.verify_dane and d.tls.verify_pkix


def test_dane_only_unusable_starttls_without_verification() -> None:
    d = decide(HOST, policy=None, tlsa=tlsa(UNUSABLE))
    assert d.tls is not None and d.tls.mode == TLSMode.STARTTLS_REQUIRED
    assert not d.tls.verify_dane and not d.tls.verify_pkix and not d.plaintext_fallback
    assert not d.dane_usable


def test_tlsa_not_applicable_is_ignored() -> None:
    t = HostTLSA(False, HOST, [HOST])
    d = decide(HOST, policy=None, tlsa=t)
    assert d.tls is not None and d.tls.mode == TLSMode.OPPORTUNISTIC and d.tls.dane_records == []


def test_tlsa_lookup_error_fails_host_temporarily() -> None:
    d = decide(HOST, policy=None, tlsa=tlsa(error=TemporaryError("SERVFAIL")))
    assert d.skip and d.failure is not None and not d.failure.permanent
    assert "DANE required" in d.failure.text


def test_tls_required_no_ignores_policy_and_errors() -> None:
    for policy, t, host in (
        (ENFORCE, None, OTHER),
        (None, tlsa(USABLE), HOST),
        (None, tlsa(error=TemporaryError("x")), HOST),
    ):
        d = decide(host, policy=policy, tlsa=t, tls_required_no=True)
        assert d.tls is not None and d.tls.mode == TLSMode.OPPORTUNISTIC
        assert d.tls.ignore_verification_errors and d.plaintext_fallback
        assert not d.tls.verify_pkix and not d.tls.verify_dane


def test_requiretls_needs_enforce_or_usable_dane() -> None:
    for policy, t in ((None, None), (TESTING, None), (None, tlsa(UNUSABLE))):
        d = decide(HOST, policy=policy, tlsa=t, requiretls=True)
        assert d.skip and d.failure is not None
        assert d.failure.permanent and d.failure.enhanced == "5.7.30"
    d = decide(HOST, policy=ENFORCE, tlsa=None, requiretls=True)
    assert not d.skip and d.requiretls and not d.plaintext_fallback
    d = decide(HOST, policy=None, tlsa=tlsa(USABLE), requiretls=True)
    assert not d.skip and d.requiretls


def test_requiretls_overrides_tls_required_no() -> None:
    d = decide(HOST, policy=None, tlsa=None, requiretls=True, tls_required_no=True)
    assert d.skip and d.failure is not None and d.failure.enhanced == "5.7.30"
    d = decide(HOST, policy=ENFORCE, tlsa=None, requiretls=True, tls_required_no=True)
    assert d.tls is not None and not d.tls.ignore_verification_errors and d.tls.verify_pkix
