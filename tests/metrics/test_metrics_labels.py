"""Label values: bounded sets, from outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from postel.metrics import labels


def test_smtp_verbs_are_bounded() -> None:
    assert labels.smtp_verb("mail FROM:<a@b>") == "MAIL"
    assert labels.smtp_verb("STARTTLS") == "STARTTLS"
    # Whatever a client sends does not become a label value.
    assert labels.smtp_verb("XEVIL" + "A" * 100) == "other"
    assert labels.smtp_verb("") == "other"


def test_imap_commands_and_results_are_bounded() -> None:
    assert labels.imap_command("fetch", uid=True) == "UID FETCH"
    assert labels.imap_command("SELECT") == "SELECT"
    assert labels.imap_command("XEVIL" + "A" * 100) == "other"
    assert labels.imap_command("SELECT", uid=True) == "other"  # no UID form
    assert [labels.imap_result(s) for s in ("OK", "NO", "BAD", "", "PREAUTH")] == [
        "OK",
        "NO",
        "BAD",
        "none",
        "none",
    ]


def test_reply_classes_and_received_results() -> None:
    assert [labels.reply_class(c) for c in (250, 354, 451, 550, 0, 999)] == [
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "none",
        "none",
    ]
    assert labels.received_result(250) == "accepted"
    assert labels.received_result(451) == "deferred"
    assert labels.received_result(550) == "rejected"


def test_dns_types_methods_and_dmarc_are_bounded() -> None:
    assert labels.dns_type("tlsa") == "TLSA"
    assert labels.dns_type("HINFO") == "other"
    assert labels.http_method("post") == "POST"
    assert labels.http_method("BREW") == "other"
    assert labels.dmarc_result("pass") == "pass"
    assert labels.dmarc_result("weird") == "other"


@dataclass
class _Err:
    permanent: bool


@dataclass
class _Dane:
    matched: bool
    result_type: str | None = None


@dataclass
class _Res:
    delivered: list[str]
    error: _Err | None = None
    connected: bool = True
    tls: bool = True
    requiretls_offered: bool = False
    dane: _Dane | None = None


def test_session_results() -> None:
    assert labels.session_result(_Res(["a@b"])) == "delivered"
    assert labels.session_result(_Res([], _Err(True))) == "permanent"
    assert labels.session_result(_Res([], _Err(False))) == "temporary"
    assert labels.session_result(_Res([])) == "rejected"


def test_dane_results() -> None:
    assert labels.dane_result(_Res([])) is None
    assert labels.dane_result(_Res([], dane=_Dane(True))) == "match"
    failed = _Res([], dane=_Dane(False, "tlsa-invalid"))
    assert labels.dane_result(failed) == "tlsa-invalid"
    assert labels.dane_result(_Res([], dane=_Dane(False))) == "failure"


def test_requiretls_unsupported() -> None:
    # RFC 8689 §4.2.1: REQUIRETLS needs TLS and the extension offered.
    assert labels.requiretls_unsupported(_Res([], tls=True, requiretls_offered=False), True)
    assert labels.requiretls_unsupported(_Res([], tls=False, requiretls_offered=True), True)
    assert not labels.requiretls_unsupported(_Res([], tls=True, requiretls_offered=True), True)
    assert not labels.requiretls_unsupported(_Res([], tls=False), False)
    assert not labels.requiretls_unsupported(_Res([], connected=False), True)


@dataclass
class _Lookup:
    policy: object | None = None
    temporary: bool = False
    cached: bool = False
    error: str = ""


def test_mtasts_results() -> None:
    assert labels.mtasts_result(_Lookup(temporary=True)) == "temporary"
    assert labels.mtasts_result(_Lookup(policy=object(), cached=True)) == "cached"
    assert labels.mtasts_result(_Lookup(policy=object())) == "fetched"
    assert labels.mtasts_result(_Lookup()) == "none"
    assert labels.mtasts_result(_Lookup(error="fetch failed")) == "error"
