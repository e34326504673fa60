"""Cached policies and lookup outcomes (RFC 8461 §5.1, docs/mta-sts.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from postel.mtasts.policy import Mode, Policy
from postel.tlsrpt.report import FailureDetails, PolicyDetails, PolicyType
from postel.tlsrpt.report import Policy as ResultPolicy

BACKOFF = dt.timedelta(minutes=5)  # first-time failures are not retried for 5 minutes
BACKOFF_MAX_AGE = 300  # max_age of the mode-none policy stored for such a failure


@dataclass(frozen=True)
class CachedPolicy:
    """One row of mtasts.db."""

    domain: str
    inserted: dt.datetime
    valid_end: dt.datetime
    last_update: dt.datetime
    last_use: dt.datetime
    backoff: bool
    record_id: str
    policy: Policy
    policy_text: str
    failure_type: str = ""
    failure_text: str = ""

    def expired(self, now: dt.datetime) -> bool:
        """RFC 8461 §5.1: a policy is usable until max_age after it was fetched."""
        return now >= self.valid_end


@dataclass(frozen=True)
class PolicyLookup:
    """The MTA-STS outcome for one delivery to ``domain``.

    ``policy`` is the policy to apply (None: no MTA-STS, also for backoff and
    failed first fetches); ``mode`` its mode (None without policy).
    ``tlsrpt_result`` is the RFC 8460 recipient-domain result entry to start
    from: no-policy-found, or sts with the policy (and a failure detail when
    the policy could not be fetched). ``temporary`` is true when a temporary
    DNS error prevented the lookup (delivery continues as without MTA-STS).
    ``cached`` tells whether the answer came from the cache.
    """

    domain: str
    policy: Policy | None
    mode: Mode | None
    tlsrpt_result: ResultPolicy
    temporary: bool = False
    cached: bool = False
    record_id: str = ""
    error: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def enforce(self) -> bool:
        return self.mode == Mode.ENFORCE

    @property
    def testing(self) -> bool:
        return self.mode == Mode.TESTING


def no_policy_result(domain: str) -> ResultPolicy:
    """RFC 8460 §4.4 no-policy-found entry for ``domain``."""
    return ResultPolicy(PolicyDetails(PolicyType.NO_POLICY_FOUND, [], domain, []))


def sts_result(domain: str, policy: Policy | None) -> ResultPolicy:
    """An sts entry: policy lines as policy-string, mx patterns as mx-host (RFC 8460 §4.4)."""
    if policy is None:
        return ResultPolicy(PolicyDetails(PolicyType.STS, [], domain, []))
    return ResultPolicy(
        PolicyDetails(PolicyType.STS, policy.policy_lines(), domain, list(policy.mx))
    )


def fetch_failure(result_type: str, reason: str) -> FailureDetails:
    """Failure detail for a policy that could not be retrieved or parsed (RFC 8460 §4.3.2.1)."""
    return FailureDetails(
        result_type=result_type, failed_session_count=1, additional_information=reason
    )


def result_for(domain: str, policy: Policy | None) -> ResultPolicy:
    """no-policy-found without policy or for mode none, else sts."""
    if policy is None or policy.mode == Mode.NONE:
        return no_policy_result(domain)
    return sts_result(domain, policy)
