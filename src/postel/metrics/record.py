"""The functions postel records metrics through: one call at each place an
outcome is known. Each does nothing while metrics are off (runtime.enable)."""

from __future__ import annotations

from postel.metrics import labels
from postel.metrics.runtime import current


def connection(protocol: str) -> None:
    m = current()
    if m is not None:
        m.connections.labels(protocol).inc()


def connection_refused(protocol: str, reason: str) -> None:
    m = current()
    if m is not None:
        m.connections_refused.labels(protocol, reason).inc()


def connection_opened(protocol: str) -> None:
    m = current()
    if m is not None:
        m.connections_open.labels(protocol).inc()


def connection_closed(protocol: str) -> None:
    m = current()
    if m is not None:
        m.connections_open.labels(protocol).dec()


def smtp_command(protocol: str, line: str, seconds: float, code: int) -> None:
    """One SMTP command *line* answered with *code* (0: none) after *seconds*."""
    m = current()
    if m is not None:
        m.command_duration.labels(
            protocol, labels.smtp_verb(line), labels.reply_class(code)
        ).observe(seconds)


def http_request(method: str, seconds: float, status: int) -> None:
    m = current()
    if m is not None:
        m.command_duration.labels(
            "http", labels.http_method(method), labels.reply_class(status)
        ).observe(seconds)


def message_received(protocol: str, code: int) -> None:
    """The reply *code* to a message after DATA."""
    m = current()
    if m is not None:
        m.messages_received.labels(protocol, labels.received_result(code)).inc()


def authentication(protocol: str, result: str) -> None:
    """*result*: success, failure or ratelimited."""
    m = current()
    if m is not None:
        m.authentications.labels(protocol, result).inc()


def delivery(result: str) -> None:
    """One queued recipient: delivered, deferred, failed or expired."""
    m = current()
    if m is not None:
        m.deliveries.labels(result).inc()


def delivery_session(
    tls_mode: str, res: labels.SessionLike, seconds: float, *, requiretls: bool
) -> None:
    """One outgoing SMTP session: its duration, DANE check and REQUIRETLS support."""
    m = current()
    if m is None:
        return
    m.delivery_duration.labels(tls_mode, labels.session_result(res)).observe(seconds)
    dane = labels.dane_result(res)
    if dane is not None:
        m.dane_verifications.labels(dane).inc()
    if labels.requiretls_unsupported(res, requiretls):
        m.requiretls_unsupported.inc()


def plaintext_fallback() -> None:
    m = current()
    if m is not None:
        m.plaintext_fallbacks.inc()


def mtasts_lookup(lookup: labels.PolicyLookupLike) -> None:
    m = current()
    if m is not None:
        m.mtasts_lookups.labels(labels.mtasts_result(lookup)).inc()


def tlsrpt_report(status: str) -> None:
    """An outgoing TLS report's status: sent or failed (others are not counted)."""
    m = current()
    if m is not None and status in ("sent", "failed"):
        m.tlsrpt_reports.labels(status).inc()


def dmarc_evaluation(result: str) -> None:
    m = current()
    if m is not None:
        m.dmarc_evaluations.labels(labels.dmarc_result(result)).inc()


def dns_lookup(rdtype: str, result: str, seconds: float) -> None:
    m = current()
    if m is not None:
        m.dns_lookup_duration.labels(labels.dns_type(rdtype), result).observe(seconds)
