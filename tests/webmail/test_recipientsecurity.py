"""Recipient security evaluation (docs/webmail-security-api.md) with MockResolver and a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from postel.datadir import DataDir
from postel.dns import BogusError, TemporaryError
from postel.dns.mock import MockResolver
from postel.mtasts.policy import Mode, Policy
from postel.mtastsdb.model import PolicyLookup, no_policy_result
from postel.recipientsecurity import (
    BadAddress,
    Delivery,
    RecipientSecurity,
    Value,
    evaluate_recipient,
    preselect_requiretls,
)
from postel.recipientsecurity.evaluate import MTASTSFacts, MXFacts, dnssec_finding, mtasts_finding
from postel.recipientsecurity.model import Finding
from postel.store import Store

TLSA = "3 1 1 " + "ab" * 32


def zone(domain: str, *, tlsa: bool = True) -> dict[tuple[str, str], Any]:
    records: dict[tuple[str, str], Any] = {
        (domain, "MX"): [f"10 mx.{domain}."],
        (f"mx.{domain}", "A"): ["192.0.2.25"],
        (f"mx.{domain}", "AAAA"): [],
    }
    if tlsa:
        records[(f"_25._tcp.mx.{domain}", "TLSA")] = [TLSA]
    return records


class FakeSTSDB:
    """Stands in for postel.mtastsdb.MTASTSDB.get."""

    def __init__(self, outcomes: dict[str, PolicyLookup]) -> None:
        self.outcomes = outcomes

    async def get(self, resolver: Any, domain: str) -> PolicyLookup:
        return self.outcomes.get(domain, PolicyLookup(domain, None, None, no_policy_result(domain)))


def enforce(domain: str) -> PolicyLookup:
    pol = Policy(mode=Mode.ENFORCE, max_age=86400, mx=(f"mx.{domain}",))
    return PolicyLookup(domain, pol, Mode.ENFORCE, no_policy_result(domain))


@pytest.fixture
def account(tmp_path: Path) -> Any:
    store = Store(DataDir(tmp_path))
    acc = store.account("alice")
    yield acc
    store.close()


async def test_all_yes(account: Any) -> None:
    resolver = MockResolver(zone("good.example"), authentic=True)
    account.remember_domain_security("good.example", True, True)
    rs = await evaluate_recipient(
        "Bob@Good.Example",
        resolver=resolver,
        memory=account.domain_security,
        mtastsdb=FakeSTSDB({"good.example": enforce("good.example")}),
    )
    assert rs.domain == "good.example"
    assert [
        rs.finding(a).value for a in ("starttls", "mtasts", "dnssec", "dane", "requiretls")
    ] == [Value.YES] * 5
    assert rs.requiretls_safe
    assert "mx.good.example" in rs.dane.detail
    assert rs.to_json()["dane"] == "yes"


async def test_unsigned_and_never_delivered(account: Any) -> None:
    resolver = MockResolver(zone("plain.example"), authentic=False)
    rs = await evaluate_recipient(
        "x@plain.example",
        resolver=resolver,
        memory=account.domain_security,
        mtastsdb=FakeSTSDB({}),
    )
    assert rs.starttls.value is Value.UNKNOWN and rs.requiretls.value is Value.UNKNOWN
    assert rs.mtasts.value is Value.NO
    assert rs.dnssec.value is Value.NO
    assert rs.dane.value is Value.NO
    assert not rs.requiretls_safe
    assert "Nothing has been delivered" in rs.starttls.detail


async def test_memory_no(account: Any) -> None:
    account.remember_domain_security("old.example", False, False)
    rs = await evaluate_recipient(
        "x@old.example",
        resolver=MockResolver(zone("old.example")),
        memory=account.domain_security,
        mtastsdb=FakeSTSDB({}),
    )
    assert rs.starttls.value is Value.NO and rs.requiretls.value is Value.NO


async def test_signed_without_tlsa_is_dane_no(account: Any) -> None:
    resolver = MockResolver(zone("notlsa.example", tlsa=False), authentic=True)
    rs = await evaluate_recipient(
        "x@notlsa.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.dnssec.value is Value.YES
    assert rs.dane.value is Value.NO


async def test_bogus_mx_is_error(account: Any) -> None:
    resolver = MockResolver(
        {("bogus.example", "*"): BogusError("bogus.example.", "MX", ede_code=9)}
    )
    rs = await evaluate_recipient(
        "x@bogus.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.dnssec.value is Value.ERROR
    assert rs.dane.value is Value.ERROR
    assert "bogus" in rs.dnssec.detail.lower()


async def test_host_lookup_failure_is_dane_error() -> None:
    records = zone("half.example", tlsa=False)
    records[("mx.half.example", "A")] = TemporaryError("SERVFAIL", qname="mx.half.example.")
    records[("mx.half.example", "AAAA")] = TemporaryError("SERVFAIL", qname="mx.half.example.")
    rs = await evaluate_recipient(
        "x@half.example", resolver=MockResolver(records), memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.dnssec.value is Value.YES
    assert rs.dane.value is Value.ERROR


async def test_tlsa_lookup_failure_is_dane_error() -> None:
    records = zone("t.example", tlsa=False)
    records[("_25._tcp.mx.t.example", "TLSA")] = TemporaryError("SERVFAIL")
    rs = await evaluate_recipient(
        "x@t.example", resolver=MockResolver(records), memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.dane.value is Value.ERROR


async def test_null_mx() -> None:
    rs = await evaluate_recipient(
        "x@null.example",
        resolver=MockResolver({("null.example", "MX"): ["0 ."]}),
        memory=None,
        mtastsdb=FakeSTSDB({}),
    )
    assert rs.dnssec.value is Value.ERROR
    assert "null MX" in rs.dnssec.detail


async def test_mtasts_direct_lookup_without_cache() -> None:
    # No _mta-sts record: no; a failing TXT lookup: error.
    records = zone("n.example")
    rs = await evaluate_recipient("x@n.example", resolver=MockResolver(records), memory=None)
    assert rs.mtasts.value is Value.NO
    records[("_mta-sts.n.example", "TXT")] = TemporaryError("SERVFAIL")
    rs = await evaluate_recipient("x@n.example", resolver=MockResolver(records), memory=None)
    assert rs.mtasts.value is Value.ERROR


async def test_mtasts_temporary_and_testing() -> None:
    d = "m.example"
    temp = PolicyLookup(d, None, None, no_policy_result(d), temporary=True, error="SERVFAIL")
    rs = await evaluate_recipient(
        f"x@{d}", resolver=MockResolver(zone(d)), memory=None, mtastsdb=FakeSTSDB({d: temp})
    )
    assert rs.mtasts.value is Value.ERROR
    testing = PolicyLookup(
        d,
        Policy(mode=Mode.TESTING, max_age=60, mx=("mx.m.example",)),
        Mode.TESTING,
        no_policy_result(d),
    )
    rs = await evaluate_recipient(
        f"x@{d}", resolver=MockResolver(zone(d)), memory=None, mtastsdb=FakeSTSDB({d: testing})
    )
    assert rs.mtasts.value is Value.NO
    assert "testing" in rs.mtasts.detail


async def test_store_failure_is_error() -> None:
    def broken(domain: str) -> Any:
        raise OSError("disk gone")

    rs = await evaluate_recipient(
        "x@s.example",
        resolver=MockResolver(zone("s.example")),
        memory=broken,
        mtastsdb=FakeSTSDB({}),
    )
    assert rs.starttls.value is Value.ERROR and rs.requiretls.value is Value.ERROR
    assert "disk gone" in rs.starttls.detail
    assert rs.dnssec.value is Value.YES


async def test_bad_address() -> None:
    with pytest.raises(BadAddress):
        await evaluate_recipient("not an address", resolver=MockResolver({}), memory=None)


def test_preselect() -> None:
    yes, no = Finding(Value.YES, ""), Finding(Value.NO, "")
    safe_sts = RecipientSecurity("a@x", "x", requiretls=yes, mtasts=yes, dane=no)
    safe_dane = RecipientSecurity("b@y", "y", requiretls=yes, mtasts=no, dane=yes)
    unsafe = RecipientSecurity("c@z", "z", requiretls=yes, mtasts=no, dane=no)
    assert preselect_requiretls([safe_sts, safe_dane])
    assert not preselect_requiretls([safe_sts, unsafe])
    assert not preselect_requiretls([])


def test_pure_findings_text() -> None:
    assert mtasts_finding("d", MTASTSFacts(problem="404")).value is Value.NO
    assert dnssec_finding("d", MXFacts(authentic=False, have_mx=False)).detail.startswith(
        "The address records"
    )


# --- local recipients, and recipients that cannot receive mail ---


async def test_domain_that_does_not_exist_is_undeliverable() -> None:
    resolver = MockResolver({("other.example", "MX"): ["10 mx.other.example."]})
    rs = await evaluate_recipient(
        "x@gone.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.delivery is Delivery.NO_DOMAIN and rs.delivery.undeliverable
    assert "does not exist" in rs.problem
    body = rs.to_json()
    assert body["delivery"] == "nodomain" and body["undeliverable"] is True
    assert {body[a] for a in ("starttls", "mtasts", "dnssec", "dane", "requiretls")} == {"error"}


async def test_domain_without_mx_and_address_is_undeliverable() -> None:
    resolver = MockResolver({("bare.example", "TXT"): ['"v=spf1 -all"']})
    rs = await evaluate_recipient(
        "x@bare.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.delivery is Delivery.NO_HOST
    assert "neither MX nor address" in rs.problem


async def test_domain_without_mx_but_with_address_is_deliverable() -> None:
    resolver = MockResolver({("a.example", "A"): ["192.0.2.9"], ("a.example", "AAAA"): []})
    rs = await evaluate_recipient(
        "x@a.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({})
    )
    assert rs.delivery is Delivery.REMOTE and rs.problem == ""
    assert rs.dnssec.value is Value.YES


async def test_local_recipient_needs_no_lookup() -> None:
    resolver = MockResolver({})
    ours = {"me@here.example": True}

    def local(addr: str) -> bool | None:
        return ours.get(addr, False) if addr.endswith("@here.example") else None

    rs = await evaluate_recipient(
        "me@here.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({}), local=local
    )
    assert rs.delivery is Delivery.LOCAL and not rs.delivery.undeliverable
    assert "delivered here" in rs.notes[0]
    nobody = await evaluate_recipient(
        "nobody@here.example", resolver=resolver, memory=None, mtastsdb=FakeSTSDB({}), local=local
    )
    assert nobody.delivery is Delivery.NO_USER
    assert resolver.queries == []


def test_preselect_ignores_local_and_refuses_undeliverable() -> None:
    yes, no = Finding(Value.YES, ""), Finding(Value.NO, "")
    safe = RecipientSecurity("a@x", "x", requiretls=yes, mtasts=yes, dane=no)
    local = RecipientSecurity("me@here", "here", delivery=Delivery.LOCAL)
    gone = RecipientSecurity("b@gone", "gone", delivery=Delivery.NO_DOMAIN, problem="gone")
    assert preselect_requiretls([safe, local])
    assert not preselect_requiretls([local])
    assert not preselect_requiretls([safe, gone])
