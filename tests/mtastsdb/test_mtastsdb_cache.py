"""mtasts.db cache behaviour (docs/mta-sts.md, The cache) with injected fetchers and clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from postel.dns import Resolver, TemporaryError
from postel.dns.mock import MockResolver
from postel.mtasts.errors import NoPolicy, PolicyFetchError, PolicySyntaxError
from postel.mtasts.fetch import FetchResult
from postel.mtasts.policy import Mode, parse_policy
from postel.mtastsdb import MTASTSDB, PolicyCache, refresh_once
from postel.tlsrpt.report import PolicyType

T0 = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
ENFORCE = (
    "version: STSv1\nmode: enforce\nmx: mx.example.com\nmx: *.backup.example.com\nmax_age: 86400\n"
)
TESTING = "version: STSv1\nmode: testing\nmx: mx2.example.com\nmax_age: 3600\n"
NONE = "version: STSv1\nmode: none\nmax_age: 86400\n"


class Fetcher:
    """Serves a scripted sequence: policy texts or errors; counts calls."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, resolver: Resolver, domain: str) -> FetchResult:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
        return FetchResult(url=url, ip="192.0.2.1", policy=parse_policy(answer), text=answer)


def resolver(record_id: str | None = "1") -> MockResolver:
    records: dict[tuple[str, str], list[str] | TemporaryError] = {}
    if record_id is not None:
        records[("_mta-sts.example.com", "TXT")] = [f'"v=STSv1; id={record_id}"']
    records[("example.com", "MX")] = ["10 mx.example.com."]
    return MockResolver(records)


@pytest.fixture
def db(cache: PolicyCache) -> PolicyCache:
    """On each backend (conftest.py)."""
    return cache


async def test_no_record_is_no_policy_and_not_stored(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE)
    r = await db.get(resolver(None), "Example.COM", now=T0, fetch=fetch)
    assert r.policy is None and r.mode is None and not r.temporary
    assert r.tlsrpt_result.policy.policy_type == PolicyType.NO_POLICY_FOUND
    assert r.tlsrpt_result.policy.policy_domain == "example.com"
    assert fetch.calls == 0
    assert db.rows() == []


async def test_first_fetch_stores_policy_and_result(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE)
    r = await db.get(resolver(), "example.com", now=T0, fetch=fetch)
    assert r.mode == Mode.ENFORCE and r.enforce and not r.cached
    p = r.tlsrpt_result.policy
    assert p.policy_type == PolicyType.STS
    assert p.policy_strings == [
        "version: STSv1",
        "mode: enforce",
        "mx: mx.example.com",
        "mx: *.backup.example.com",
        "max_age: 86400",
    ]
    assert p.mx_hosts == ["mx.example.com", "*.backup.example.com"]
    assert r.tlsrpt_result.failure_details == []
    [row] = db.rows()
    assert (row.domain, row.record_id, row.backoff) == ("example.com", "1", False)
    assert row.inserted == row.last_update == row.last_use == T0
    assert row.valid_end == T0 + dt.timedelta(seconds=86400)
    assert row.policy_text == ENFORCE


@pytest.mark.parametrize(
    ("error", "result_type"),
    [
        (PolicyFetchError("HTTP status 500"), "sts-policy-fetch-error"),
        (NoPolicy("HTTP 404"), "sts-policy-fetch-error"),
        (PolicySyntaxError("bad", line=2), "sts-policy-invalid"),
        (PolicyFetchError("cert", result_type="sts-webpki-invalid"), "sts-webpki-invalid"),
    ],
)
async def test_first_time_failure_backs_off_five_minutes(
    db: PolicyCache, error: Exception, result_type: str
) -> None:
    fetch = Fetcher(error, ENFORCE)
    res = resolver()
    r = await db.get(res, "example.com", now=T0, fetch=fetch)
    assert r.policy is None and r.mode is None
    assert r.tlsrpt_result.policy.policy_type == PolicyType.STS
    [fd] = r.tlsrpt_result.failure_details
    assert fd.result_type == result_type and fd.failed_session_count == 1
    [row] = db.rows()
    assert row.backoff and row.policy.mode == Mode.NONE and row.policy.max_age == 300
    assert row.valid_end == T0 + dt.timedelta(seconds=300)
    # Within 5 minutes: no DNS query, no fetch, same outcome.
    res.queries.clear()
    r2 = await db.get(res, "example.com", now=T0 + dt.timedelta(seconds=299), fetch=fetch)
    assert r2.policy is None and r2.cached and fetch.calls == 1 and res.queries == []
    assert r2.tlsrpt_result.failure_details[0].result_type == result_type
    # After 5 minutes: fetched again, now successfully.
    r3 = await db.get(res, "example.com", now=T0 + dt.timedelta(seconds=300), fetch=fetch)
    assert fetch.calls == 2 and r3.mode == Mode.ENFORCE and not db.rows()[0].backoff


async def test_same_id_uses_cache_without_fetch(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE)
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=fetch)
    later = T0 + dt.timedelta(hours=1)
    r = await db.get(res, "example.com", now=later, fetch=fetch)
    assert r.cached and r.mode == Mode.ENFORCE and fetch.calls == 1
    assert ("_mta-sts.example.com.", "TXT") in res.queries
    assert db.rows()[0].last_use == later and db.rows()[0].last_update == T0


async def test_record_error_or_removal_uses_cache(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE)
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=fetch)
    res.set("_mta-sts.example.com", "TXT", TemporaryError("SERVFAIL"))
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(hours=1), fetch=fetch)
    assert r.mode == Mode.ENFORCE and fetch.calls == 1
    res.remove("_mta-sts.example.com", "TXT")
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(hours=2), fetch=fetch)
    assert r.mode == Mode.ENFORCE and fetch.calls == 1


async def test_new_id_refetches(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE, TESTING)
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=fetch)
    res.set("_mta-sts.example.com", "TXT", ['"v=STSv1; id=2"'])
    later = T0 + dt.timedelta(hours=1)
    r = await db.get(res, "example.com", now=later, fetch=fetch)
    assert fetch.calls == 2 and r.mode == Mode.TESTING and not r.cached
    [row] = db.rows()
    assert row.record_id == "2" and row.inserted == T0 and row.last_update == later
    assert row.valid_end == later + dt.timedelta(seconds=3600)


async def test_new_id_failed_fetch_keeps_cached_policy(db: PolicyCache) -> None:
    fetch = Fetcher(ENFORCE, PolicyFetchError("HTTP status 503"))
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=fetch)
    res.set("_mta-sts.example.com", "TXT", ['"v=STSv1; id=2"'])
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(hours=1), fetch=fetch)
    assert r.mode == Mode.ENFORCE and r.policy is not None
    assert r.tlsrpt_result.policy.policy_type == PolicyType.STS
    assert [d.result_type for d in r.tlsrpt_result.failure_details] == ["sts-policy-fetch-error"]
    [row] = db.rows()
    assert row.record_id == "1" and row.last_update == T0 and not row.backoff


async def test_expiry_by_max_age(db: PolicyCache) -> None:
    fetch = Fetcher(TESTING, PolicyFetchError("down"))
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=fetch)
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(seconds=3599), fetch=fetch)
    assert r.mode == Mode.TESTING and fetch.calls == 1
    # Expired: a fresh lookup; its failure is a first-time failure (no policy, backoff).
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(seconds=3600), fetch=fetch)
    assert fetch.calls == 2 and r.policy is None and db.rows()[0].backoff


async def test_expired_and_record_gone_deletes_row(db: PolicyCache) -> None:
    res = resolver("1")
    await db.get(res, "example.com", now=T0, fetch=Fetcher(TESTING))
    res.remove("_mta-sts.example.com", "TXT")
    r = await db.get(res, "example.com", now=T0 + dt.timedelta(days=1), fetch=Fetcher(TESTING))
    assert r.policy is None and db.rows() == []


async def test_mode_none_policy_is_no_policy_found(db: PolicyCache) -> None:
    r = await db.get(resolver(), "example.com", now=T0, fetch=Fetcher(NONE))
    assert r.mode == Mode.NONE and r.policy is not None
    assert r.tlsrpt_result.policy.policy_type == PolicyType.NO_POLICY_FOUND


async def test_temporary_dns_error_without_cache(db: PolicyCache) -> None:
    res = MockResolver({("_mta-sts.example.com", "TXT"): TemporaryError("SERVFAIL")})
    fetch = Fetcher(ENFORCE)
    r = await db.get(res, "example.com", now=T0, fetch=fetch)
    assert r.temporary and r.policy is None and fetch.calls == 0 and db.rows() == []


async def test_record_syntax_error_backs_off(db: PolicyCache) -> None:
    res = MockResolver({("_mta-sts.example.com", "TXT"): ['"v=STSv1; id=a_b"']})
    r = await db.get(res, "example.com", now=T0, fetch=Fetcher(ENFORCE))
    assert r.policy is None
    assert r.tlsrpt_result.failure_details[0].result_type == "sts-policy-invalid"
    assert db.rows()[0].backoff


async def test_reopen_keeps_rows(tmp_path: Path) -> None:
    d = MTASTSDB.open(tmp_path / "m.db")
    await d.get(resolver(), "example.com", now=T0, fetch=Fetcher(ENFORCE))
    d.close()
    d = MTASTSDB.open(tmp_path / "m.db")
    try:
        [row] = d.rows()
        assert row.policy == parse_policy(ENFORCE)
    finally:
        d.close()


# -- refresher ------------------------------------------------------------


async def _seed(db: PolicyCache, domain: str, text: str, when: dt.datetime) -> MockResolver:
    res = MockResolver({(f"_mta-sts.{domain}", "TXT"): ['"v=STSv1; id=1"']})
    await db.get(res, domain, now=when, fetch=Fetcher(text))
    return res


async def test_refresh_deletes_rows_unused_for_180_days(db: PolicyCache) -> None:
    await _seed(db, "old.example", ENFORCE, T0)
    await _seed(db, "recent.example", ENFORCE, T0 + dt.timedelta(days=10))
    res = MockResolver(
        {
            ("_mta-sts.old.example", "TXT"): ['"v=STSv1; id=1"'],
            ("_mta-sts.recent.example", "TXT"): ['"v=STSv1; id=1"'],
        }
    )
    now = T0 + dt.timedelta(days=181)
    stats = await refresh_once(db, res, now=now, fetch=Fetcher(ENFORCE))
    assert stats.deleted_unused == ["old.example"]
    assert [r.domain for r in db.rows()] == ["recent.example"]


async def test_refresh_updates_stale_rows_only(db: PolicyCache) -> None:
    await _seed(db, "stale.example", ENFORCE, T0)
    await _seed(db, "fresh.example", ENFORCE, T0 + dt.timedelta(hours=6))
    res = MockResolver(
        {
            ("_mta-sts.stale.example", "TXT"): ['"v=STSv1; id=1"'],
            ("_mta-sts.fresh.example", "TXT"): ['"v=STSv1; id=1"'],
        }
    )
    now = T0 + dt.timedelta(hours=12)
    fetch = Fetcher(TESTING)
    stats = await refresh_once(db, res, now=now, fetch=fetch)
    assert stats.refreshed == ["stale.example"] and fetch.calls == 1
    stale = db.cached("stale.example")
    assert stale is not None
    assert stale.policy.mode == Mode.TESTING and stale.last_update == now
    assert stale.last_use == T0  # a refresh is not a use
    fresh = db.cached("fresh.example")
    assert fresh is not None and fresh.policy.mode == Mode.ENFORCE


async def test_refresh_failure_keeps_row(db: PolicyCache) -> None:
    await _seed(db, "a.example", ENFORCE, T0)
    res = MockResolver({("_mta-sts.a.example", "TXT"): ['"v=STSv1; id=1"']})
    stats = await refresh_once(
        db, res, now=T0 + dt.timedelta(days=1), fetch=Fetcher(PolicyFetchError("down"))
    )
    assert stats.failed == ["a.example"]
    row = db.cached("a.example")
    assert row is not None and row.policy.mode == Mode.ENFORCE and row.last_update == T0


async def test_refresh_deletes_mode_none_when_record_gone(db: PolicyCache) -> None:
    await _seed(db, "none.example", NONE, T0)
    await _seed(db, "enf.example", ENFORCE, T0)
    res = MockResolver({})  # both records gone
    stats = await refresh_once(db, res, now=T0 + dt.timedelta(days=1), fetch=Fetcher(ENFORCE))
    assert stats.deleted_gone == ["none.example"]
    assert [r.domain for r in db.rows()] == ["enf.example"]


async def test_refresh_loop_runs_and_stops(db: PolicyCache) -> None:
    import asyncio

    from postel.mtastsdb import refresh_loop

    await _seed(db, "none.example", NONE, T0)
    stop = asyncio.Event()
    task = asyncio.create_task(refresh_loop(db, MockResolver({}), stop, fetch=Fetcher(NONE)))
    for _ in range(100):
        if not db.rows():
            break
        await asyncio.sleep(0.01)
    assert db.rows() == []  # record gone, mode none: deleted by the first run
    stop.set()
    await asyncio.wait_for(task, 2)
