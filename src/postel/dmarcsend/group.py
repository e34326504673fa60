"""Grouping stored evaluations into aggregate report rows (pure).

RFC 7489 §7.2 / RFC 9990 §2.1: one row per distinct (source IP, applied
disposition and override reasons, DMARC-aligned DKIM and SPF results,
identifiers, underlying DKIM and SPF results), with a message count. Rows of
each header_from stay apart, so subdomain mail is reported separately from the
organizational domain's (RFC 7489 §7.2 "Data for each sender subdomain").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from postel.dmarcevaldb import DKIMEval, Evaluation, SPFEval

RowKey = tuple[str, str, tuple[str, ...], str, str, str, str, tuple[DKIMEval, ...], SPFEval | None]


@dataclass(frozen=True)
class ReportRow:
    source_ip: str
    count: int
    disposition: str
    reasons: tuple[str, ...]
    dkim_aligned: str
    spf_aligned: str
    header_from: str
    envelope_from: str
    dkim: tuple[DKIMEval, ...]
    spf: SPFEval | None


def row_key(e: Evaluation) -> RowKey:
    return (
        e.source_ip,
        e.disposition,
        tuple(e.reasons),
        e.dkim_aligned,
        e.spf_aligned,
        e.header_from,
        e.envelope_from,
        tuple(sorted(set(e.dkim), key=lambda d: (d.domain, d.selector, d.result))),
        e.spf,
    )


def rows(evaluations: Sequence[Evaluation]) -> list[ReportRow]:
    """The report rows, most messages first (ties in a stable, readable order)."""
    counts: dict[RowKey, int] = {}
    for e in evaluations:
        k = row_key(e)
        counts[k] = counts.get(k, 0) + 1
    out = [
        ReportRow(k[0], n, k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8])
        for k, n in counts.items()
    ]
    out.sort(key=lambda r: (-r.count, r.header_from, r.source_ip, r.disposition))
    return out


@dataclass
class Pending:
    """What one policy domain has waiting for a report."""

    policy_domain: str
    evaluations: list[Evaluation]

    @property
    def first_day(self) -> dt.date:
        return min(e.day for e in self.evaluations)

    @property
    def only_optional(self) -> bool:
        """Only report mail was evaluated: no report about it alone (no loops)."""
        return all(e.optional for e in self.evaluations)

    def latest(self) -> Evaluation:
        """The evaluation whose published policy the report states (the newest)."""
        return max(self.evaluations, key=lambda e: (e.received, e.id))


def pending_by_domain(evaluations: Sequence[Evaluation]) -> list[Pending]:
    """Evaluations per policy domain, domains sorted."""
    by: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        by.setdefault(e.policy_domain, []).append(e)
    return [Pending(d, by[d]) for d in sorted(by)]
