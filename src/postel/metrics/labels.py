"""Label values from outcomes: pure functions, bounded sets (a label value
that a client chooses would make a time series per value)."""

from __future__ import annotations

from typing import Protocol

SMTP_VERBS = frozenset(
    {
        "EHLO",
        "HELO",
        "MAIL",
        "RCPT",
        "DATA",
        "RSET",
        "NOOP",
        "QUIT",
        "VRFY",
        "HELP",
        "STARTTLS",
        "AUTH",
    }
)
# IMAP commands (RFC 9051 §6 and the extensions postel implements); "UID x"
# for the UID forms (RFC 9051 §6.4.9).
IMAP_COMMANDS = frozenset(
    {
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "ID",
        "STARTTLS",
        "LOGIN",
        "AUTHENTICATE",
        "ENABLE",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "NAMESPACE",
        "STATUS",
        "APPEND",
        "IDLE",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "GETQUOTA",
        "GETQUOTAROOT",
        "SETQUOTA",
        "COMPRESS",
        "UID EXPUNGE",
        "UID SEARCH",
        "UID FETCH",
        "UID STORE",
        "UID COPY",
        "UID MOVE",
    }
)
IMAP_RESULTS = frozenset({"OK", "NO", "BAD"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
DNS_TYPES = frozenset({"A", "AAAA", "MX", "TXT", "TLSA", "PTR", "CNAME", "NS", "SOA", "DS"})
DMARC_RESULTS = frozenset({"pass", "fail", "none", "temperror", "permerror"})


def smtp_verb(line: str) -> str:
    """The command of an SMTP line, "other" for anything not a known verb."""
    verb = line.partition(" ")[0].upper()
    return verb if verb in SMTP_VERBS else "other"


def imap_command(name: str, uid: bool = False) -> str:
    """The IMAP command *name* (its UID form when *uid*), "other" when unknown."""
    name = ("UID " if uid else "") + name.upper()
    return name if name in IMAP_COMMANDS else "other"


def imap_result(status: str) -> str:
    """The tagged response's status, OK, NO or BAD; "none" when none was sent."""
    return status if status in IMAP_RESULTS else "none"


def http_method(method: str) -> str:
    method = method.upper()
    return method if method in HTTP_METHODS else "other"


def reply_class(code: int) -> str:
    """ "2xx" .. "5xx" for an SMTP reply or HTTP status; "none" when nothing was sent."""
    if 200 <= code < 600:
        return f"{code // 100}xx"
    if 100 <= code < 200:
        return "1xx"
    return "none"


def received_result(code: int) -> str:
    """The result of a message after DATA (RFC 5321 §4.2.1: 2yz, 4yz, 5yz)."""
    if 200 <= code < 300:
        return "accepted"
    if 400 <= code < 500:
        return "deferred"
    return "rejected"


def dns_type(rdtype: str) -> str:
    rdtype = rdtype.upper()
    return rdtype if rdtype in DNS_TYPES else "other"


def dmarc_result(result: str) -> str:
    return result if result in DMARC_RESULTS else "other"


class _Failure(Protocol):
    @property
    def permanent(self) -> bool: ...


class _Dane(Protocol):
    @property
    def matched(self) -> bool: ...
    @property
    def result_type(self) -> str | None: ...


class SessionLike(Protocol):
    """postel.smtpclient.SessionResult as the delivery metrics read it."""

    @property
    def delivered(self) -> list[str]: ...
    @property
    def error(self) -> _Failure | None: ...
    @property
    def connected(self) -> bool: ...
    @property
    def tls(self) -> bool: ...
    @property
    def requiretls_offered(self) -> bool: ...
    @property
    def dane(self) -> _Dane | None: ...


def session_result(res: SessionLike) -> str:
    """delivered (for some recipient), permanent / temporary (the session failed),
    rejected (every recipient refused, or the message after DATA)."""
    if res.delivered:
        return "delivered"
    if res.error is not None:
        return "permanent" if res.error.permanent else "temporary"
    return "rejected"


def dane_result(res: SessionLike) -> str | None:
    """match, the RFC 8460 result type of a failure, or None (no DANE check)."""
    if res.dane is None:
        return None
    if res.dane.matched:
        return "match"
    return res.dane.result_type or "failure"


def requiretls_unsupported(res: SessionLike, requiretls: bool) -> bool:
    """A REQUIRETLS message met a host that did not offer it over TLS (RFC 8689 §4.2.1)."""
    return requiretls and res.connected and not (res.tls and res.requiretls_offered)


class PolicyLookupLike(Protocol):
    """postel.mtastsdb.PolicyLookup as the metrics read it."""

    @property
    def policy(self) -> object | None: ...
    @property
    def temporary(self) -> bool: ...
    @property
    def cached(self) -> bool: ...
    @property
    def error(self) -> str: ...


def mtasts_result(lookup: PolicyLookupLike) -> str:
    if lookup.temporary:
        return "temporary"
    if lookup.cached:
        return "cached"
    if lookup.policy is not None:
        return "fetched"
    return "error" if lookup.error else "none"
