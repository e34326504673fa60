"""mtasts.db: the MTA-STS policy cache (RFC 8461 §5.1, docs/mta-sts.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from os import PathLike
from pathlib import Path

from postel.db import open_db, transaction
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
from postel.mtastsdb.errors import CorruptRow
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
from postel.mtastsdb.schema import MIGRATIONS
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

_log = logging.getLogger("postel.mtastsdb")

# async fetch(resolver, domain) -> FetchResult; raises postel.mtasts errors.
Fetcher = Callable[[Resolver, str], Awaitable[FetchResult]]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _parse_time(text: str, field: str, domain: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise CorruptRow(f"mtasts.db row {domain!r}, field {field}: {e}") from None


def policy_to_json(policy: Policy) -> str:
    return json.dumps(policy.to_json(), sort_keys=True)


def policy_from_json(text: str, domain: str) -> Policy:
    try:
        obj = json.loads(text)
        return Policy(
            mode=Mode(obj["mode"]),
            max_age=int(obj["max_age"]),
            mx=tuple(obj["mx"]),
            extensions=tuple((k, v) for k, v in obj["extensions"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptRow(f"mtasts.db row {domain!r}, field policy: {e}") from None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class MTASTSDB:
    """The policy cache. Open with :meth:`open`, close with :meth:`close`.

    ``extra_ca_files``, ``https_port``, ``timeout`` and ``addresses`` (which
    policy host addresses may be connected to) configure the default policy
    fetcher (PKIX with system CAs plus the extra files).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> None:
        self.conn = conn
        self.path = path
        self.extra_ca_files = list(extra_ca_files)
        self.https_port = https_port
        self.timeout = timeout
        self.addresses = addresses
        self.log = logger or _log

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> MTASTSDB:
        return cls(
            open_db(Path(path), MIGRATIONS, readonly=readonly),
            Path(path),
            extra_ca_files=extra_ca_files,
            https_port=https_port,
            timeout=timeout,
            logger=logger,
            addresses=addresses,
        )

    def close(self) -> None:
        self.conn.close()

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

    # -- rows -------------------------------------------------------------

    @staticmethod
    def _row(r: sqlite3.Row) -> CachedPolicy:
        d = r["domain"]
        return CachedPolicy(
            domain=d,
            inserted=_parse_time(r["inserted"], "inserted", d),
            valid_end=_parse_time(r["valid_end"], "valid_end", d),
            last_update=_parse_time(r["last_update"], "last_update", d),
            last_use=_parse_time(r["last_use"], "last_use", d),
            backoff=bool(r["backoff"]),
            record_id=r["record_id"],
            policy=policy_from_json(r["policy"], d),
            policy_text=r["policy_text"],
            failure_type=r["failure_type"],
            failure_text=r["failure_text"],
        )

    def cached(self, domain: str) -> CachedPolicy | None:
        """The stored row for ``domain`` (expired or not), or None."""
        r = self.conn.execute("SELECT * FROM policy WHERE domain = ?", (domain,)).fetchone()
        return None if r is None else self._row(r)

    def rows(self) -> list[CachedPolicy]:
        return [self._row(r) for r in self.conn.execute("SELECT * FROM policy ORDER BY domain")]

    def put(self, p: CachedPolicy) -> None:
        """Insert or replace a row."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO policy (domain, inserted, valid_end, last_update,"
                " last_use, backoff, record_id, policy, policy_text, failure_type, failure_text)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    p.domain,
                    _iso(p.inserted),
                    _iso(p.valid_end),
                    _iso(p.last_update),
                    _iso(p.last_use),
                    int(p.backoff),
                    p.record_id,
                    policy_to_json(p.policy),
                    p.policy_text,
                    p.failure_type,
                    p.failure_text,
                ),
            )

    def delete(self, domain: str) -> bool:
        cur = self.conn.execute("DELETE FROM policy WHERE domain = ?", (domain,))
        return cur.rowcount > 0

    def _touch(self, domain: str, now: dt.datetime) -> None:
        self.conn.execute("UPDATE policy SET last_use = ? WHERE domain = ?", (_iso(now), domain))

    def store_fetched(
        self,
        domain: str,
        record: Record,
        fetched: FetchResult,
        now: dt.datetime,
        previous: CachedPolicy | None,
    ) -> CachedPolicy:
        """Store a freshly fetched policy, valid for its max_age (RFC 8461 §3.2)."""
        row = CachedPolicy(
            domain=domain,
            inserted=previous.inserted if previous is not None else now,
            valid_end=now + dt.timedelta(seconds=fetched.policy.max_age),
            last_update=now,
            last_use=now,
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
        row = self.cached(domain)
        if row is not None and not row.expired(now):
            result = await self._from_cache(resolver, domain, row, now, fetch)
        else:
            result = await self._fresh(resolver, domain, row, now, fetch)
        return result

    async def _from_cache(
        self, resolver: Resolver, domain: str, row: CachedPolicy, now: dt.datetime, fetch: Fetcher
    ) -> PolicyLookup:
        self._touch(domain, now)
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
        new = self.store_fetched(domain, record, fetched, now, row)
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
                self.delete(domain)
            return PolicyLookup(domain, None, None, no_policy_result(domain))
        except TemporaryLookupError as e:
            entry = sts_result(domain, None)
            entry.failure_details.append(fetch_failure(RESULT_FETCH_ERROR, str(e)))
            return PolicyLookup(domain, None, None, entry, temporary=True, error=str(e))
        except RecordSyntaxError as e:
            return self._failed(domain, "", e, now)
        try:
            fetched = await fetch(resolver, domain)
        except MTASTSError as e:
            return self._failed(domain, record.id, e, now)
        row = self.store_fetched(domain, record, fetched, now, expired)
        return self._cached_lookup(row, cached=False, warnings=fetched.warnings)

    def _failed(
        self, domain: str, record_id: str, error: MTASTSError, now: dt.datetime
    ) -> PolicyLookup:
        self.log.info(
            "mta-sts policy not available, backing off 5 minutes: %s",
            error,
            extra={"domain": domain},
        )
        row = self.store_backoff(domain, record_id, error, now)
        entry = sts_result(domain, None)
        entry.failure_details.append(fetch_failure(row.failure_type, row.failure_text))
        return PolicyLookup(domain, None, None, entry, record_id=record_id, error=str(error))
