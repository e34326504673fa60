"""Per-report message counts by evaluated DKIM/SPF/DMARC result (pure)."""

from __future__ import annotations

from postel.dmarcdb.model import Counts
from postel.dmarcrpt import Report


def report_counts(report: Report) -> Counts:
    """Sum row counts by policy_evaluated dkim/spf (RFC 7489 appendix C).

    Values other than pass/fail (missing in lenient reports) count as neither.
    DMARC passes when either aligned result passes (RFC 7489 §6.6.2).
    """
    messages = dkim_pass = dkim_fail = spf_pass = spf_fail = dmarc_pass = dmarc_fail = 0
    for rec in report.records:
        n = rec.row.count
        pe = rec.row.policy_evaluated
        messages += n
        dkim_pass += n if pe.dkim == "pass" else 0
        dkim_fail += n if pe.dkim == "fail" else 0
        spf_pass += n if pe.spf == "pass" else 0
        spf_fail += n if pe.spf == "fail" else 0
        if pe.dkim == "pass" or pe.spf == "pass":
            dmarc_pass += n
        elif pe.dkim or pe.spf:
            dmarc_fail += n
    return Counts(messages, dkim_pass, dkim_fail, spf_pass, spf_fail, dmarc_pass, dmarc_fail)
