"""The MTA-STS policy cache's decisions (RFC 8461 §5.1, docs/mta-sts.md), over
rows kept by a subclass: the node's mtasts.db (postel.mtastsdb.db.MTASTSDB) or
the table shared by the nodes (postel.pg.mtastscache.PgMTASTSCache)."""

from __future__ import annotations

import datetime as dt
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from os import PathLike
from typing import ParamSpec, TypeVar

from postel.dns import Resolver
from postel.mtasts.errors import (
    RESULT_FETCH_ERROR,
    MTASTSError,
    NoRecord,
    RecordSyntaxError,
    TemporaryLookupError,
)
from postel.mtasts.fetch import DEFAULT_TIMEOUT, FetchResult, fetch_policy, make_ssl_context
from postel.mtasts.lookup import lookup_record, normalise_domain
from postel.mtasts.policy import Mode, Policy
from postel.mtasts.record import Record
from postel.mtastsdb.model import (
    BACKOFF,
    BACKOFF_MAX_AGE,
    CachedPolicy,
    PolicyLookup,
    fetch_failure,
    no_policy_result,
    result_for,
    sts_result,
)
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

_log = logging.getLogger("postel.mtastsdb")

# async fetch(resolver, domain) -> FetchResult; raises postel.mtasts errors.
Fetcher = Callable[[Resolver, str], Awaitable[FetchResult]]

P = ParamSpec("P")
T = TypeVar("T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class PolicyCache(ABC):
    """The policy cache's lookups and refresh steps; subclasses keep the rows.

    ``extra_ca_files``, ``https_port``, ``timeout`` and ``addresses`` (which
    policy host addresses may be connected to) configure the default policy
    fetcher (PKIX with system CAs plus the extra files).
    """

    def __init__(
        self,
        *,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> None:
        self.extra_ca_files = list(extra_ca_files)
        self.https_port = https_port
        self.timeout = timeout
        self.addresses = addresses
        self.log = logger or _log

    # -- rows, kept by the subclass ----------------------------------------

    @abstractmethod
    def cached(self, domain: str) -> CachedPolicy | None:
        """The stored row for ``domain`` (expired or not), or None."""

    @abstractmethod
    def rows(self) -> list[CachedPolicy]: ...

    @abstractmethod
    def put(self, p: CachedPolicy) -> None:
        """Insert or replace a row."""

    @abstractmethod
    def delete(self, domain: str) -> bool: ...

    @abstractmethod
    def touch(self, domain: str, now: dt.datetime) -> None:
        """Record a use of the row (its last_use)."""

    @abstractmethod
    def close(self) -> None: ...

    def claim_refresh(self, domain: str, stale_before: dt.datetime, now: dt.datetime) -> bool:
        """Whether this process refreshes *domain*'s row now (last updated at or
        before *stale_before*). One process owns a data directory's cache: yes."""
        return True

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call one of the row methods from the event loop (directly: a local file)."""
        return fn(*args, **kwargs)

    # -- fetching ---------------------------------------------------------

    async def fetch(self, resolver: Resolver, domain: str) -> FetchResult:
        """The default fetcher: HTTPS GET of the policy (RFC 8461 §3.3)."""
        ctx = make_ssl_context(self.extra_ca_files)
        return await fetch_policy(
            resolver,
            domain,
            ssl_context=ctx,
            port=self.https_port,
            timeout=self.timeout,
            logger=self.log,
            addresses=self.addresses,
        )

    def store_fetched(
        self,
        domain: str,
        record: Record,
        fetched: FetchResult,
        now: dt.datetime,
        previous: CachedPolicy | None,
        *,
        used: dt.datetime | None = None,
    ) -> CachedPolicy:
        """Store a freshly fetched policy, valid for its max_age (RFC 8461 §3.2);
        *used*: the last use to keep (a refresh is not a use), else *now*."""
        row = CachedPolicy(
            domain=domain,
            inserted=previous.inserted if previous is not None else now,
            valid_end=now + dt.timedelta(seconds=fetched.policy.max_age),
            last_update=now,
            last_use=used if used is not None else now,
            backoff=False,
            record_id=record.id,
            policy=fetched.policy,
            policy_text=fetched.text,
        )
        self.put(row)
        return row

    def store_backoff(
        self, domain: str, record_id: str, error: MTASTSError, now: dt.datetime
    ) -> CachedPolicy:
        """docs/mta-sts.md: a first-time failure is stored as mode none, max_age 300 s, backoff."""
        policy = Policy(mode=Mode.NONE, max_age=BACKOFF_MAX_AGE)
        row = CachedPolicy(
            domain=domain,
            inserted=now,
            valid_end=now + dt.timedelta(seconds=BACKOFF_MAX_AGE),
            last_update=now,
            last_use=now,
            backoff=True,
            record_id=record_id,
            policy=policy,
            policy_text=policy.text(),
            failure_type=error.result_type or RESULT_FETCH_ERROR,
            failure_text=str(error),
        )
        self.put(row)
        return row

    # -- lookup -------------------------------------------------------------

    async def get(
        self,
        resolver: Resolver,
        domain: str,
        *,
        now: dt.datetime | None = None,
        fetch: Fetcher | None = None,
    ) -> PolicyLookup:
        """The policy to apply for a delivery to ``domain`` (RFC 8461 §5.1).

        Never raises MTA-STS errors; ValueError for a ``domain`` that is not a name.
        """
        now = now or utcnow()
        fetch = fetch or self.fetch
        domain = normalise_domain(domain)
        row = await self.run(self.cached, domain)
        if row is not None and not row.expired(now):
            result = await self._from_cache(resolver, domain, row, now, fetch)
        else:
            result = await self._fresh(resolver, domain, row, now, fetch)
        return result

    async def _from_cache(
        self, resolver: Resolver, domain: str, row: CachedPolicy, now: dt.datetime, fetch: Fetcher
    ) -> PolicyLookup:
        await self.run(self.touch, domain, now)
        if row.backoff and now < row.last_update + BACKOFF:
            # docs/mta-sts.md, The cache: treated as "no MTA-STS", with the fetch failure reported.
            entry = sts_result(domain, None)
            entry.failure_details.append(fetch_failure(row.failure_type, row.failure_text))
            return PolicyLookup(
                domain,
                None,
                None,
                entry,
                cached=True,
                record_id=row.record_id,
                error=f"backoff after failed policy fetch: {row.failure_text}",
            )
        try:
            record = await lookup_record(resolver, domain)
        except MTASTSError as e:
            # RFC 8461 §5.1: a cached, unexpired policy stays in force.
            self.log.debug(
                "mta-sts record re-check failed, using cached policy: %s",
                e,
                extra={"domain": domain},
            )
            return self._cached_lookup(row)
        if record.id == row.record_id:
            return self._cached_lookup(row)
        try:
            fetched = await fetch(resolver, domain)
        except MTASTSError as e:
            # docs/mta-sts.md, The cache: new id, failed fetch: keep the cached policy.
            self.log.info(
                "mta-sts policy re-fetch for new id failed, using cached policy: %s",
                e,
                extra={"domain": domain, "record_id": record.id},
            )
            out = self._cached_lookup(row)
            if out.policy is not None and out.policy.mode != Mode.NONE:
                out.tlsrpt_result.failure_details.append(
                    fetch_failure(e.result_type or RESULT_FETCH_ERROR, str(e))
                )
            return out
        new = await self.run(self.store_fetched, domain, record, fetched, now, row)
        return self._cached_lookup(new, cached=False, warnings=fetched.warnings)

    def _cached_lookup(
        self, row: CachedPolicy, *, cached: bool = True, warnings: tuple[str, ...] = ()
    ) -> PolicyLookup:
        if row.backoff:
            # Backoff over but policy row not yet expired cannot happen (valid 300 s).
            return PolicyLookup(
                row.domain,
                None,
                None,
                no_policy_result(row.domain),
                cached=cached,
                record_id=row.record_id,
            )
        return PolicyLookup(
            row.domain,
            row.policy,
            row.policy.mode,
            result_for(row.domain, row.policy),
            cached=cached,
            record_id=row.record_id,
            warnings=warnings,
        )

    async def _fresh(
        self,
        resolver: Resolver,
        domain: str,
        expired: CachedPolicy | None,
        now: dt.datetime,
        fetch: Fetcher,
    ) -> PolicyLookup:
        try:
            record = await lookup_record(resolver, domain)
        except NoRecord:
            if expired is not None:
                await self.run(self.delete, domain)
            return PolicyLookup(domain, None, None, no_policy_result(domain))
        except TemporaryLookupError as e:
            entry = sts_result(domain, None)
            entry.failure_details.append(fetch_failure(RESULT_FETCH_ERROR, str(e)))
            return PolicyLookup(domain, None, None, entry, temporary=True, error=str(e))
        except RecordSyntaxError as e:
            return await self._failed(domain, "", e, now)
        try:
            fetched = await fetch(resolver, domain)
        except MTASTSError as e:
            return await self._failed(domain, record.id, e, now)
        row = await self.run(self.store_fetched, domain, record, fetched, now, expired)
        return self._cached_lookup(row, cached=False, warnings=fetched.warnings)

    async def _failed(
        self, domain: str, record_id: str, error: MTASTSError, now: dt.datetime
    ) -> PolicyLookup:
        self.log.info(
            "mta-sts policy not available, backing off 5 minutes: %s",
            error,
            extra={"domain": domain},
        )
        row = await self.run(self.store_backoff, domain, record_id, error, now)
        entry = sts_result(domain, None)
        entry.failure_details.append(fetch_failure(row.failure_type, row.failure_text))
        return PolicyLookup(domain, None, None, entry, record_id=record_id, error=str(error))
