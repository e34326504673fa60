"""Where a message goes, from every signal (pure): refused, kept in Rejects,
filed in Junk, or delivered to Inbox, with the reasons the user is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from postel.junk.classify import Verdict

# The GTUBE test string: a message carrying it is refused, so that an operator
# can check the filter end to end.
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

Target = Literal["inbox", "junk", "rejects", "refuse"]
TARGETS: tuple[Target, ...] = ("inbox", "junk", "rejects", "refuse")


@dataclass(frozen=True)
class Thresholds:
    """Per account (docs/junk.md)."""

    junk: float = 0.9  # score from which a message goes to Junk
    reject: float = 1.0  # score from which it is kept in Rejects (or refused); 1: never
    refuse: bool = False  # refuse at SMTP above `reject` instead of keeping it
    min_trained: int = 10  # messages of each kind before the classifier is trusted


@dataclass(frozen=True)
class Signals:
    gtube: bool = False
    verdict: Verdict | None = None
    ham_messages: int = 0
    spam_messages: int = 0
    reputation: tuple[Literal["good", "bad"], str] | None = None  # and the identity
    dnsbl: tuple[str, ...] = ()  # zones listing the sending IP
    dmarc_quarantine: bool = False  # the sender's DMARC policy says quarantine
    rspamd: tuple[str, float] | None = None  # rspamd's action and score, when asked


@dataclass(frozen=True)
class Filing:
    target: Target
    score: float | None  # the classifier's, when it counted
    reasons: tuple[str, ...] = field(default=())


def rspamd_reason(action: str, score: float) -> str:
    return f"rspamd: {action} ({score:.1f})"


def decide(s: Signals, t: Thresholds) -> Filing:
    """Where the message goes; rspamd's verdict, when it was asked, is among
    the reasons whether or not it decided."""
    filing = _decide(s, t)
    if s.rspamd is None:
        return filing
    reason = rspamd_reason(*s.rspamd)
    if reason in filing.reasons:
        return filing
    return Filing(filing.target, filing.score, (*filing.reasons, reason))


def _decide(s: Signals, t: Thresholds) -> Filing:
    score = s.verdict.score if s.verdict is not None else None
    if s.gtube:
        return Filing("refuse", score, ("GTUBE test string",))
    trained = s.ham_messages >= t.min_trained and s.spam_messages >= t.min_trained
    signals: tuple[str, ...] = ()
    if s.verdict is not None and trained:
        signals = tuple(f"{w} ({p:.2f})" for w, p in s.verdict.signals)
    if s.reputation is not None:
        kind, ident = s.reputation
        if kind == "good":
            return Filing("inbox", score, (f"you kept mail from {ident} before",))
        return Filing("junk", score, (f"you marked mail from {ident} as junk", *signals))
    if s.rspamd is not None and s.rspamd[0] == "reject":
        reason = rspamd_reason(*s.rspamd)
        return Filing("refuse" if t.refuse else "rejects", score, (reason,))
    if score is not None and trained:
        if t.reject < 1.0 and score >= t.reject:
            target: Target = "refuse" if t.refuse else "rejects"
            return Filing(target, score, (f"junk score {score:.3f}", *signals))
        if score >= t.junk:
            return Filing("junk", score, (f"junk score {score:.3f}", *signals))
    if s.dnsbl:
        return Filing("junk", score, tuple(f"listed by {z}" for z in s.dnsbl))
    if s.rspamd is not None and s.rspamd[0] in ("add header", "rewrite subject"):
        return Filing("junk", score, (rspamd_reason(*s.rspamd),))
    if s.dmarc_quarantine:
        return Filing("junk", score, ("the sender's DMARC policy says quarantine",))
    if score is not None and trained:
        return Filing("inbox", score, (f"junk score {score:.3f}", *signals))
    return Filing("inbox", score, ("not enough training yet",) if not trained else ())
