"""The junk filter: a per-account Bayesian classifier on words and word pairs,
trained by the user's own moves to and from Junk, sender reputation from the
user's verdicts on verified identities, and DNSBLs (docs/junk.md)."""

from postel.junk.classify import Verdict, classify
from postel.junk.decide import Filing, Signals, Thresholds, decide
from postel.junk.tokens import features

__all__ = ["Filing", "Signals", "Thresholds", "Verdict", "classify", "decide", "features"]
