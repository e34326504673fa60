"""Evaluations and a sender for the dmarcsend tests."""

from __future__ import annotations

import datetime as dt

from postel.dmarcevaldb import DKIMEval, Evaluation, SPFEval
from postel.dmarcevaldb.api import Evaluations
from postel.dmarcsend import ReportSender, Settings
from postel.dns.mock import MockResolver

DAY = dt.date(2026, 3, 14)
DURING = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
NEXT_RUN = dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC)

STATIC = """
hostname = "mail.example.org"
postmaster_account = "alice"
[reports]
report_sender_localpart = "reports"
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


def ev(
    domain: str = "sender.example",
    ip: str = "192.0.2.1",
    *,
    header_from: str | None = None,
    disposition: str = "none",
    dkim: str = "pass",
    spf: str = "pass",
    when: dt.datetime = DURING,
    optional: bool = False,
) -> Evaluation:
    return Evaluation(
        received=when,
        policy_domain=domain,
        header_from=header_from or domain,
        source_ip=ip,
        p="reject",
        sp=None,
        adkim="r",
        aspf="r",
        pct=100,
        testing=False,
        disposition=disposition,
        dkim_aligned=dkim,
        spf_aligned=spf,
        envelope_from=domain,
        dkim=[DKIMEval(domain, "s1", "pass" if dkim == "pass" else "fail")],
        spf=SPFEval(domain, "mfrom", "pass" if spf == "pass" else "fail"),
        optional=optional,
    )


class Captured:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def __call__(self, mail_from: str, rcpt: str, message: bytes) -> None:
        self.sent.append((mail_from, rcpt, message))


def sender(
    db: Evaluations, resolver: MockResolver, *, now: dt.datetime = NEXT_RUN
) -> tuple[ReportSender, Evaluations, Captured]:
    """A sender over *db* (the ``evaldb`` fixture: each backend)."""
    cap = Captured()
    s = ReportSender(
        db,
        resolver,
        Settings("mail.receiver.example", ["receiver.example"]),
        signer_for=lambda d: None,
        enqueue=cap,
        now=lambda: now,
    )
    return s, db, cap
