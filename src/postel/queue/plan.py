"""What an attempt's outcome means for its entries (pure: no I/O).

Per entry: delivered, failed (5xx), expired (out of attempts or time) or
deferred with the next attempt (postel.queue.backoff); which recipients a
DSN tells about (RFC 3464) and which report addresses bounced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from postel.delivery.request import RecipientOutcome
from postel.queue import backoff
from postel.queue.dsn import Action, DSNRecipient
from postel.queue.entries import Deferral
from postel.queue.model import Entry, QueuedMessage

Verdict = Literal["delivered", "failed", "expired", "deferred"]


def expired_status(enhanced: str) -> str:
    """Status of a recipient given up on after temporary failures (RFC 3463)."""
    if enhanced.startswith("4.") and enhanced != "4.0.0":
        return "5." + enhanced[2:]
    return "5.4.7"  # delivery time expired


def _dsn_rcpt(
    rcpt: str,
    o: RecipientOutcome,
    now: dt.datetime,
    action: Action,
    status: str,
    until: dt.datetime | None = None,
) -> DSNRecipient:
    return DSNRecipient(
        rcpt=rcpt,
        action=action,
        status=status,
        code=o.code,
        enhanced=o.enhanced,
        message=o.message,
        remote_mta=o.remote_mta,
        last_attempt=now,
        will_retry_until=until,
    )


@dataclass(frozen=True)
class EntryVerdict:
    entry: Entry
    outcome: RecipientOutcome
    verdict: Verdict
    attempts: int
    next_attempt: dt.datetime | None = None


@dataclass
class AttemptPlan:
    """The attempt's consequences, for the runner (DSNs) and the recorder (state)."""

    verdicts: list[EntryVerdict] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)
    failed: list[DSNRecipient] = field(default_factory=list)
    delayed: list[DSNRecipient] = field(default_factory=list)
    tlsrpt_bounces: list[str] = field(default_factory=list)  # RFC 8460 §5.3: no DSN
    dmarc_bounces: list[str] = field(default_factory=list)


def _find(outcomes: Sequence[RecipientOutcome], rcpt: str) -> RecipientOutcome:
    by_rcpt: dict[str, RecipientOutcome] = {}
    for out in outcomes:
        by_rcpt.setdefault(out.rcpt, out)
        by_rcpt.setdefault(out.rcpt.lower(), out)
    found = by_rcpt.get(rcpt) or by_rcpt.get(rcpt.lower())
    if found is not None:
        return found
    return RecipientOutcome(rcpt, "temporary", 0, "4.3.0", "no result for this recipient")


def plan_attempt(
    msg: QueuedMessage,
    group: Sequence[Entry],
    outcomes: Sequence[RecipientOutcome],
    now: dt.datetime,
    rand: Callable[[], float],
) -> AttemptPlan:
    """The plan for *group* (the entries of *msg* tried in one attempt)."""
    plan = AttemptPlan()
    for e in group:
        o = _find(outcomes, e.rcpt)
        attempts = e.attempts + 1
        if o.status == "delivered":
            plan.verdicts.append(EntryVerdict(e, o, "delivered", attempts))
            plan.done.append(e.id)
            continue
        if o.status == "permanent":
            plan.verdicts.append(EntryVerdict(e, o, "failed", attempts))
            plan.failed.append(_dsn_rcpt(e.rcpt, o, now, "failed", o.enhanced or "5.0.0"))
            plan.done.append(e.id)
            continue
        nxt = backoff.next_attempt(e.created, now, attempts, e.max_attempts, rand())
        if nxt is None:
            plan.verdicts.append(EntryVerdict(e, o, "expired", attempts))
            plan.failed.append(_dsn_rcpt(e.rcpt, o, now, "failed", expired_status(o.enhanced)))
            plan.done.append(e.id)
            continue
        send_delay = backoff.delay_dsn_due(e.created, now, e.dsn_sent_delay)
        plan.verdicts.append(EntryVerdict(e, o, "deferred", attempts, nxt))
        plan.deferred.append(
            Deferral(
                e.id,
                nxt,
                error=o.message,
                code=o.code,
                enhanced=o.enhanced,
                remote_mta=o.remote_mta,
                dsn_sent_delay=send_delay,
            )
        )
        if send_delay:
            until = e.created + backoff.MAX_AGE
            plan.delayed.append(
                _dsn_rcpt(e.rcpt, o, now, "delayed", o.enhanced or "4.0.0", until=until)
            )
    if msg.is_tlsrpt or msg.is_dmarc_report:
        # No DSNs about TLS reports (RFC 8460 §5.3) nor about DMARC reports
        # (the sender address takes none); bounces are counted instead.
        bounced = [r.rcpt for r in plan.failed]
        if msg.is_tlsrpt:
            plan.tlsrpt_bounces = bounced
        else:
            plan.dmarc_bounces = bounced
        plan.failed, plan.delayed = [], []
    elif not msg.mail_from:
        plan.failed, plan.delayed = [], []  # never a DSN for a DSN (RFC 5321 §4.5.5)
    return plan
