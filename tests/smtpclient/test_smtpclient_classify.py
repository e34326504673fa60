"""Classification of TLS handshake failures for RFC 8460 reports."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from postel.smtpclient import classify_tls_error
from postel.smtpclient.classify import (
    REASON_CLOSED,
    REASON_TIMEOUT,
    alert_reason,
    remote_alert_name,
)
from postel.tlsrpt.report import ResultType


def ssl_error(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] something")
    exc.reason = reason  # type: ignore[misc]
    return exc


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", "tls-remote-alert-40-handshake-failure"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "tls-remote-alert-70-protocol-version"),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "tls-remote-alert-116-certificate-required"),
        ("TLSV1_UNRECOGNIZED_NAME", "tls-remote-alert-112-unrecognized-name"),
        ("TLSV1_ALERT_INTERNAL_ERROR", "tls-remote-alert-80-internal-error"),
        ("WRONG_VERSION_NUMBER", "tls-local-alert-70-protocol-version"),
        ("NO_SHARED_CIPHER", "tls-local-alert-40-handshake-failure"),
        ("SOMETHING_NEW", "tls-local-error-something-new"),
    ],
)
def test_ssl_errors(reason: str, code: str) -> None:
    f = classify_tls_error(ssl_error(reason))
    assert f.result_type == ResultType.VALIDATION_FAILURE
    assert f.reason == code
    assert f.detail


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        TimeoutError(),
        ConnectionAbortedError("SSL handshake is taking longer than 5 seconds: aborting"),
    ],
)
def test_timeouts(exc: BaseException) -> None:
    f = classify_tls_error(exc)
    assert (f.result_type, f.reason) == (ResultType.VALIDATION_FAILURE, REASON_TIMEOUT)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(104, "reset"),
        BrokenPipeError(),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
        ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"),
        asyncio.IncompleteReadError(b"", 10),
        ssl_error("UNEXPECTED_EOF_WHILE_READING"),
        ssl_error("SSLV3_ALERT_CLOSE_NOTIFY"),
    ],
)
def test_closed(exc: BaseException) -> None:
    assert classify_tls_error(exc).reason == REASON_CLOSED


def test_helpers() -> None:
    assert alert_reason("remote", "bad_certificate") == "tls-remote-alert-42-bad-certificate"
    assert alert_reason("local", "made_up") == "tls-local-made-up"
    assert remote_alert_name("TLSV1_ALERT_UNKNOWN_CA") == "unknown_ca"
    assert remote_alert_name("WRONG_VERSION_NUMBER") is None
    assert remote_alert_name(None) is None
