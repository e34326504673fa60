"""When to try again, when to give up, when to warn the sender (pure)."""

from __future__ import annotations

import datetime as dt

FIRST_RETRY = dt.timedelta(minutes=7.5)
MAX_AGE = dt.timedelta(days=5)
DELAY_DSN_AFTER = dt.timedelta(hours=4)
JITTER = 0.1  # +-10 %
DEFAULT_MAX_ATTEMPTS = 20  # the 5 days end it first: 7.5 min doubling gives ~11 tries
TLSRPT_MAX_ATTEMPTS = 4  # TLS reports: a few tries over ~1 hour, then give up


def retry_delay(attempts: int, rand: float = 0.5) -> dt.timedelta:
    """Wait after the *attempts*-th failed try: 7.5 min, 15 min, 30 min, 1 h, ...

    *rand* in [0, 1) spreads it by +-10 % so retries of many messages do not
    stay in lock step.
    """
    n = max(1, attempts)
    base: dt.timedelta = FIRST_RETRY * (2 ** min(n - 1, 16))
    factor: float = 1 - JITTER + 2 * JITTER * rand
    return base * factor


def next_attempt(
    created: dt.datetime,
    now: dt.datetime,
    attempts: int,
    max_attempts: int,
    rand: float = 0.5,
) -> dt.datetime | None:
    """The time of the next try after a temporary failure, or None to give up.

    Gives up after *max_attempts* tries or once the message is MAX_AGE old;
    the last try is placed at created + MAX_AGE rather than beyond it.
    """
    deadline = created + MAX_AGE
    if attempts >= max_attempts or now >= deadline:
        return None
    return min(now + retry_delay(attempts, rand), deadline)


def delay_dsn_due(created: dt.datetime, now: dt.datetime, already_sent: bool) -> bool:
    """Warn the sender once after DELAY_DSN_AFTER of failures (RFC 3464 Action: delayed)."""
    return not already_sent and now - created >= DELAY_DSN_AFTER
