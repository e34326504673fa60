"""Every metric postel records in its processes, by Prometheus conventions:
``postel_`` prefix, base units (seconds), ``_total`` for counters (added by
prometheus_client). docs/metrics.md lists them for operators.

Metrics computed at scrape time (queue size, certificate expiry) are in
scrape.py; these here are written by each process to its files in the
multiprocess directory and summed over the processes on scrape.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_M = TypeVar("_M", bound=MetricWrapperBase)

# Seconds: an SMTP command or HTTP request answered from memory takes well
# under a millisecond; DATA and AUTH wait for the disk and the password hash.
COMMAND_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
# One SMTP session to a remote host: connecting, TLS, transfer, up to the
# command timeouts (RFC 5321 §4.5.3.2 suggests minutes).
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
DNS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metric objects of one process; made by postel.metrics.runtime.enable.

    Registered in no registry: the exposition reads the multiprocess files.
    """

    def __init__(self) -> None:
        # The child of each label set, made once: labels() checks and locks on
        # every call, and commands are recorded on the SMTP hot path.
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        self.connections = Counter(
            "postel_connections",
            "Connections accepted, by protocol (smtp, submission, submissions, imap, imaps, http).",
            ["protocol"],
            registry=None,
        )
        self.connections_open = Gauge(
            "postel_connections_open",
            "Connections open now, by protocol.",
            ["protocol"],
            registry=None,
            multiprocess_mode="livesum",
        )
        self.connections_refused = Counter(
            "postel_connections_refused",
            "Connections refused by a connection limit, by protocol and reason "
            "(total: max_connections; client: max_connections_per_ip).",
            ["protocol", "reason"],
            registry=None,
        )
        self.command_duration = Histogram(
            "postel_command_duration_seconds",
            "Time to answer one SMTP or IMAP command or HTTP request, by protocol, command "
            "(SMTP verb, IMAP command or HTTP method) and result (class of the reply: 2xx, "
            "3xx, 4xx, 5xx; for IMAP the tagged status: OK, NO, BAD).",
            ["protocol", "command", "result"],
            registry=None,
            buckets=COMMAND_BUCKETS,
        )
        self.messages_received = Counter(
            "postel_messages_received",
            "Messages received after DATA, by protocol (smtp: incoming; submission, "
            "submissions: from accounts) and result (accepted, rejected, deferred).",
            ["protocol", "result"],
            registry=None,
        )
        self.authentications = Counter(
            "postel_authentications",
            "Logins, by protocol (submission, submissions, imap, imaps, http) and result "
            "(success, failure, ratelimited: refused by the failed-login limits).",
            ["protocol", "result"],
            registry=None,
        )
        self.deliveries = Counter(
            "postel_deliveries",
            "Outgoing deliveries of queued recipients, by result (delivered; deferred: "
            "retried later; failed: permanent error; expired: given up after retries).",
            ["result"],
            registry=None,
        )
        self.delivery_duration = Histogram(
            "postel_delivery_duration_seconds",
            "One outgoing SMTP session, by TLS mode (immediate, starttls-required, "
            "opportunistic, skip) and result (delivered, rejected, temporary, permanent).",
            ["tls_mode", "result"],
            registry=None,
            buckets=DELIVERY_BUCKETS,
        )
        self.plaintext_fallbacks = Counter(
            "postel_delivery_plaintext_fallbacks",
            "Outgoing sessions retried without TLS after TLS failed where policy allows it.",
            registry=None,
        )
        self.requiretls_unsupported = Counter(
            "postel_delivery_requiretls_unsupported",
            "Outgoing sessions for REQUIRETLS messages (RFC 8689) to hosts that did not "
            "offer REQUIRETLS over TLS.",
            registry=None,
        )
        self.dane_verifications = Counter(
            "postel_dane_verifications",
            "DANE verifications of a remote host's certificate (RFC 7672), by result "
            "(match, or the RFC 8460 result type of the failure).",
            ["result"],
            registry=None,
        )
        self.mtasts_lookups = Counter(
            "postel_mtasts_lookups",
            "MTA-STS policy lookups for deliveries (RFC 8461), by result (cached, fetched, "
            "none: no policy, temporary: DNS error, error: lookup failed).",
            ["result"],
            registry=None,
        )
        self.tlsrpt_reports = Counter(
            "postel_tlsrpt_reports",
            "Outgoing TLS reports (RFC 8460), by result (sent, failed).",
            ["result"],
            registry=None,
        )
        self.dmarc_evaluations = Counter(
            "postel_dmarc_evaluations",
            "DMARC evaluations of incoming messages (RFC 7489), by result "
            "(pass, fail, none, temperror, permerror).",
            ["result"],
            registry=None,
        )
        self.junk_filings = Counter(
            "postel_junk_filings",
            "Messages filed by the junk filter at delivery, per recipient account, by "
            "target (inbox, junk, rejects, refuse).",
            ["target"],
            registry=None,
        )
        self.dnsbl_lookups = Counter(
            "postel_dnsbl_lookups",
            "DNSBL lookups of sending addresses (RFC 5782), by zone (from [junk] "
            "dnsbl_zones) and result (listed, clear, error).",
            ["zone", "result"],
            registry=None,
        )
        self.rspamd_checks = Counter(
            "postel_rspamd_checks",
            "Messages checked by rspamd ([junk] rspamd_url), by result: its action "
            "(no_action, greylist, add_header, rewrite_subject, soft_reject, reject) or "
            "error (no usable answer in time).",
            ["result"],
            registry=None,
        )
        self.dns_lookup_duration = Histogram(
            "postel_dns_lookup_duration_seconds",
            "DNS lookups through the resolver, by record type and result (ok, notfound, "
            "temporary, bogus, error).",
            ["type", "result"],
            registry=None,
            buckets=DNS_BUCKETS,
        )

    def child(self, metric: _M, *values: str) -> _M:
        """*metric* with the label *values* (label values come from bounded sets)."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return cast(_M, found)
