"""The functions postel records metrics through: one call at each place an
outcome is known. Each does nothing while metrics are off (runtime.enable)."""

from __future__ import annotations

from postel.metrics import labels
from postel.metrics.runtime import current


def connection(protocol: str) -> None:
    m = current()
    if m is not None:
        m.child(m.connections, protocol).inc()


def connection_refused(protocol: str, reason: str) -> None:
    m = current()
    if m is not None:
        m.child(m.connections_refused, protocol, reason).inc()


def connection_opened(protocol: str) -> None:
    m = current()
    if m is not None:
        m.child(m.connections_open, protocol).inc()


def connection_closed(protocol: str) -> None:
    m = current()
    if m is not None:
        m.child(m.connections_open, protocol).dec()


def smtp_command(protocol: str, line: str, seconds: float, code: int) -> None:
    """One SMTP command *line* answered with *code* (0: none) after *seconds*."""
    m = current()
    if m is not None:
        m.child(
            m.command_duration, protocol, labels.smtp_verb(line), labels.reply_class(code)
        ).observe(seconds)


def imap_command(protocol: str, name: str, uid: bool, seconds: float, status: str) -> None:
    """One IMAP command *name* answered with the tagged *status* after *seconds*."""
    m = current()
    if m is not None:
        m.child(
            m.command_duration,
            protocol,
            labels.imap_command(name, uid),
            labels.imap_result(status),
        ).observe(seconds)


def http_request(method: str, seconds: float, status: int) -> None:
    m = current()
    if m is not None:
        m.child(
            m.command_duration, "http", labels.http_method(method), labels.reply_class(status)
        ).observe(seconds)


def message_received(protocol: str, code: int) -> None:
    """The reply *code* to a message after DATA."""
    m = current()
    if m is not None:
        m.child(m.messages_received, protocol, labels.received_result(code)).inc()


def authentication(protocol: str, result: str) -> None:
    """*result*: success, failure or ratelimited."""
    m = current()
    if m is not None:
        m.child(m.authentications, protocol, result).inc()


def delivery(result: str) -> None:
    """One queued recipient: delivered, deferred, failed or expired."""
    m = current()
    if m is not None:
        m.child(m.deliveries, result).inc()


def delivery_session(
    tls_mode: str, res: labels.SessionLike, seconds: float, *, requiretls: bool
) -> None:
    """One outgoing SMTP session: its duration, DANE check and REQUIRETLS support."""
    m = current()
    if m is None:
        return
    m.child(m.delivery_duration, tls_mode, labels.session_result(res)).observe(seconds)
    dane = labels.dane_result(res)
    if dane is not None:
        m.child(m.dane_verifications, dane).inc()
    if labels.requiretls_unsupported(res, requiretls):
        m.requiretls_unsupported.inc()


def plaintext_fallback() -> None:
    m = current()
    if m is not None:
        m.plaintext_fallbacks.inc()


def mtasts_lookup(lookup: labels.PolicyLookupLike) -> None:
    m = current()
    if m is not None:
        m.child(m.mtasts_lookups, labels.mtasts_result(lookup)).inc()


def tlsrpt_report(status: str) -> None:
    """An outgoing TLS report's status: sent or failed (others are not counted)."""
    m = current()
    if m is not None and status in ("sent", "failed"):
        m.child(m.tlsrpt_reports, status).inc()


def dmarc_evaluation(result: str) -> None:
    m = current()
    if m is not None:
        m.child(m.dmarc_evaluations, labels.dmarc_result(result)).inc()


def dns_lookup(rdtype: str, result: str, seconds: float) -> None:
    m = current()
    if m is not None:
        m.child(m.dns_lookup_duration, labels.dns_type(rdtype), result).observe(seconds)


def junk_filing(target: str) -> None:
    """Where the junk filter filed a message for one account."""
    m = current()
    if m is not None:
        m.child(m.junk_filings, target).inc()


def rspamd_check(result: str) -> None:
    """*result*: rspamd's action (spaces as underscores) or error."""
    m = current()
    if m is not None:
        m.child(m.rspamd_checks, result).inc()


def dnsbl_lookup(zone: str, result: str) -> None:
    """*result*: listed, clear or error. Zones come from the configuration."""
    m = current()
    if m is not None:
        m.child(m.dnsbl_lookups, zone, result).inc()
