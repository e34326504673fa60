"""The Bayesian verdict on a message's features (pure).

Each feature's spam probability follows Robinson's smoothing of its counts in
the user's spam and ham; the most telling features are combined with Fisher's
method (the chi-squared test on the sum of their logarithms), once as evidence
of spam and once of ham, giving a score from 0 (ham) to 1 (spam) that stays
near 0.5 when the evidence is weak or mixed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import sub

STRENGTH = 0.45  # Robinson's s: how much an unknown feature is pulled to NEUTRAL
NEUTRAL = 0.5
MIN_DISTANCE = 0.1  # features nearer 0.5 than this say nothing
MAX_USED = 150  # the most telling features used per message
SIGNALS = 6  # features shown to the user as the reason


@dataclass(frozen=True)
class Counts:
    """How often a feature was seen in the user's ham and spam messages."""

    ham: int
    spam: int


@dataclass(frozen=True)
class Verdict:
    score: float  # 0: ham, 1: spam
    used: int  # features that counted
    signals: tuple[tuple[str, float], ...]  # the most telling ones, with their probability


def feature_probability(c: Counts, ham_messages: int, spam_messages: int) -> float:
    """Robinson's f(w): the spam probability of a feature, smoothed towards
    NEUTRAL when it was seen rarely."""
    n = c.ham + c.spam
    if n == 0 or ham_messages == 0 or spam_messages == 0:
        return NEUTRAL
    spam_ratio = min(1.0, c.spam / spam_messages)
    ham_ratio = min(1.0, c.ham / ham_messages)
    p = spam_ratio / (spam_ratio + ham_ratio)
    return (STRENGTH * NEUTRAL + n * p) / (STRENGTH + n)


def chi2q(x2: float, dof: int) -> float:
    """P(chi-squared with *dof* (even) degrees of freedom >= *x2*)."""
    m = x2 / 2.0
    term = math.exp(-m)
    total = term
    for i in range(1, dof // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


def telling_probability(ham: int, spam: int, ham_messages: int, spam_messages: int) -> float | None:
    """feature_probability of a feature seen in *ham* and *spam* messages,
    None when it says nothing (nearer NEUTRAL than MIN_DISTANCE, or never
    seen): what classify uses of a feature, and what JunkDB caches of it."""
    n = ham + spam
    if n == 0 or ham_messages == 0 or spam_messages == 0:
        return None
    spam_ratio = min(1.0, spam / spam_messages)
    ham_ratio = min(1.0, ham / ham_messages)
    p = (STRENGTH * NEUTRAL + n * (spam_ratio / (spam_ratio + ham_ratio))) / (STRENGTH + n)
    return p if abs(p - NEUTRAL) >= MIN_DISTANCE else None


def classify(
    features: Iterable[str],
    counts: Mapping[str, Counts],
    ham_messages: int,
    spam_messages: int,
) -> Verdict:
    """The verdict on a message with *features*, given the user's *counts*
    (features never seen may be missing) and how many messages of each kind
    the user trained."""
    if ham_messages == 0 or spam_messages == 0:
        return Verdict(NEUTRAL, 0, ())  # every feature_probability is NEUTRAL
    telling: list[tuple[str, float]] = []
    for f in features:
        c = counts.get(f)
        if c is not None:
            p = telling_probability(c.ham, c.spam, ham_messages, spam_messages)
            if p is not None:
                telling.append((f, p))
    return combine(telling)


def combine(telling: Iterable[tuple[str, float]]) -> Verdict:
    """The verdict from the (feature, probability) of a message's telling
    features (telling_probability): the MAX_USED farthest from NEUTRAL
    (ties: by feature) combined with Fisher's method."""
    # Sorted as tuples, without a key function called per feature.
    ranked = sorted([(-abs(p - NEUTRAL), f, p) for f, p in telling])[:MAX_USED]
    if not ranked:
        return Verdict(NEUTRAL, 0, ())
    ps = [p for _, _, p in ranked]
    # Fisher: -2 sum(ln p) is chi-squared with 2n degrees of freedom when the
    # p are uniform; clamp away from 0 and 1 so one feature cannot decide alone.
    # (Sums over map in the same order: the same floating-point results.)
    log = math.log
    ln_spam = sum(map(log, map(max, repeat(1e-12), map(sub, repeat(1.0), ps))))
    ln_ham = sum(map(log, map(max, repeat(1e-12), ps)))
    n = len(ps)
    spamminess = 1.0 - chi2q(-2.0 * ln_spam, 2 * n)
    hamminess = 1.0 - chi2q(-2.0 * ln_ham, 2 * n)
    score = (spamminess - hamminess + 1.0) / 2.0
    return Verdict(score, n, tuple((f, round(p, 3)) for _, f, p in ranked[:SIGNALS]))
