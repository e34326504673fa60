"""A day of recorded outgoing TLS results for the tlsrptsend tests.

Recipient domains (MTA-STS): a.example (sts, failures), b.example (sts, all
success), c.example (no-policy-found; its MX hosts have DANE). MX hosts (DANE):
mx.hosting.example serves a.example and c.example, mx.c.example serves c.example.
"""

from __future__ import annotations

import datetime as dt

from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb import AttemptResults, ResultDB

STATIC = """
hostname = "mail.example.org"
postmaster_account = "alice"
[reports]
report_sender_localpart = "tlsreports"
"""

DOMAINS = """
[domains."example.org"]
dkim.sign = ["s1"]
[domains."example.org".dkim.selectors.s1]
algorithm = "ed25519"
key_file = "dkim-s1.pem"

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]
"""

DAY = dt.date(2026, 3, 14)
DURING = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
NEXT_RUN = dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC)


def sts(domain: str, mx: str, ok: int, fail: int = 0) -> Policy:
    details = (
        [
            FailureDetails(
                ResultType.CERTIFICATE_EXPIRED,
                sending_mta_ip="192.0.2.10",
                receiving_mx_hostname=mx,
                receiving_ip="192.0.2.25",
                failed_session_count=fail,
            )
        ]
        if fail
        else []
    )
    return Policy(
        PolicyDetails(
            PolicyType.STS,
            ["version: STSv1", "mode: enforce", f"mx: {mx}", "max_age: 86400"],
            domain,
            [mx],
        ),
        Summary(ok, fail),
        details,
    )


def tlsa(base: str, ok: int, fail: int = 0) -> Policy:
    details = (
        [
            FailureDetails(
                ResultType.VALIDATION_FAILURE,
                sending_mta_ip="192.0.2.10",
                receiving_mx_hostname=base,
                receiving_ip="192.0.2.26",
                failed_session_count=fail,
                failure_reason_code="dane-no-match",
            )
        ]
        if fail
        else []
    )
    return Policy(
        PolicyDetails(PolicyType.TLSA, ["3 1 1 " + "ab" * 32], base, []), Summary(ok, fail), details
    )


def nopolicy(domain: str, ok: int = 1) -> Policy:
    return Policy(PolicyDetails(PolicyType.NO_POLICY_FOUND, [], domain, []), Summary(ok, 0))


def record_day(db: ResultDB, *, now: dt.datetime = DURING, send_report: bool = True) -> None:
    """Attempts of one day, as the deliverer records them."""
    db.add_attempt(
        AttemptResults(
            "a.example",
            sts("a.example", "mx.hosting.example", 3, 2),
            {"mx.hosting.example": tlsa("mx.hosting.example", 5, 0)},
        ),
        send_report=send_report,
        now=now,
    )
    db.add_attempt(
        AttemptResults("b.example", sts("b.example", "mx.b.example", 4), {}),
        send_report=send_report,
        now=now,
    )
    db.add_attempt(
        AttemptResults(
            "c.example",
            nopolicy("c.example"),
            {
                "mx.hosting.example": tlsa("mx.hosting.example", 1, 1),
                "mx.c.example": tlsa("mx.c.example", 2),
            },
        ),
        send_report=send_report,
        now=now,
    )
