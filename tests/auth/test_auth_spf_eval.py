"""SPF check_host() over MockResolver (RFC 7208 §4-§7, examples of Appendix A and D)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postel.auth.spf.evaluate import check_host
from postel.auth.spf.macro import MacroContext, expand, expand_domain
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver


def txt(value: str) -> str:
    """A TXT value in presentation form, split into 255-octet strings."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


# RFC 7208 Appendix A zone.
BASE: dict[tuple[str, str], list[str] | TemporaryError] = {
    ("example.com", "MX"): ["10 mail-a.example.com.", "20 mail-b.example.com."],
    ("example.com", "A"): ["192.0.2.10", "192.0.2.11"],
    ("amy.example.com", "A"): ["192.0.2.65"],
    ("bob.example.com", "A"): ["192.0.2.66"],
    ("mail-a.example.com", "A"): ["192.0.2.129"],
    ("mail-b.example.com", "A"): ["192.0.2.130"],
    ("www.example.com", "CNAME"): ["example.com."],
    ("mail.example.com", "A"): ["192.0.2.140"],
    ("mail.example.com", "AAAA"): ["2001:db8::cb01"],
    ("example.org", "MX"): ["10 mail-c.example.org."],
    ("mail-c.example.org", "A"): ["192.0.2.140"],
    ("10.2.0.192.in-addr.arpa", "PTR"): ["example.com."],
    ("11.2.0.192.in-addr.arpa", "PTR"): ["example.com."],
    ("65.2.0.192.in-addr.arpa", "PTR"): ["amy.example.com."],
    ("66.2.0.192.in-addr.arpa", "PTR"): ["bob.example.com."],
    ("129.2.0.192.in-addr.arpa", "PTR"): ["mail-a.example.com."],
    ("130.2.0.192.in-addr.arpa", "PTR"): ["mail-b.example.com."],
    ("140.2.0.192.in-addr.arpa", "PTR"): ["mail.example.org.", "mail.example.com."],
}


def resolver(
    spf: dict[str, str], extra: dict[tuple[str, str], list[str] | TemporaryError] | None = None
) -> MockResolver:
    records: dict = dict(BASE)
    for name, rec in spf.items():
        records[(name, "TXT")] = [txt(rec)]
    records.update(extra or {})
    return MockResolver(records)


async def spf_result(
    r: MockResolver, ip: str, domain: str = "example.com", sender: str = "user@example.com"
) -> str:
    res = await check_host(r, ip=ip, domain=domain, sender=sender, helo="mx.client.example")
    return res.result


# RFC 7208 Appendix A.1 - A.4 examples, each with client IPs and expected results.
@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 +all", "192.0.2.200", "pass"),
        ("v=spf1 a -all", "192.0.2.10", "pass"),
        ("v=spf1 a -all", "192.0.2.11", "pass"),
        ("v=spf1 a -all", "192.0.2.65", "fail"),
        ("v=spf1 a:example.org -all", "192.0.2.10", "fail"),
        ("v=spf1 mx -all", "192.0.2.129", "pass"),
        ("v=spf1 mx -all", "192.0.2.130", "pass"),
        ("v=spf1 mx -all", "192.0.2.10", "fail"),
        ("v=spf1 mx:example.org -all", "192.0.2.140", "pass"),
        ("v=spf1 mx mx:example.org -all", "192.0.2.140", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.141", "pass"),
        ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.150", "fail"),
        ("v=spf1 ptr -all", "192.0.2.65", "pass"),
        ("v=spf1 ptr -all", "192.0.2.140", "pass"),
        ("v=spf1 ptr -all", "10.0.0.4", "fail"),
        ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", "fail"),
        ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", "pass"),
        ("v=spf1 a/24 -all", "192.0.2.99", "pass"),
        ("v=spf1 a:mail.example.com//64 -all", "2001:db8::1", "pass"),
        ("v=spf1 ~all", "192.0.2.1", "softfail"),
        ("v=spf1 ?all", "192.0.2.1", "neutral"),
        ("v=spf1", "192.0.2.1", "neutral"),
        ("v=spf1 -ip4:192.0.2.1 +all", "192.0.2.1", "fail"),
    ],
)
async def test_appendix_a(record: str, ip: str, expected: str) -> None:
    assert await spf_result(resolver({"example.com": record}), ip) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("2001:db8::1", "pass"),
        ("2001:db8:ffff::", "pass"),
        ("2001:db9::1", "fail"),
        ("192.0.2.1", "fail"),
        ("::ffff:192.0.2.3", "pass"),  # IPv4-mapped: evaluated as IPv4
    ],
)
async def test_ip6(ip: str, expected: str) -> None:
    r = resolver({"example.com": "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.3 -all"})
    assert await spf_result(r, ip) == expected


async def test_ip6_uses_aaaa_for_a_mechanism() -> None:
    r = resolver({"example.com": "v=spf1 a:mail.example.com -all"})
    assert await spf_result(r, "2001:db8::cb01") == "pass"
    assert ("mail.example.com.", "AAAA") in r.queries


async def test_include_chain() -> None:
    r = resolver(
        {
            "example.com": "v=spf1 include:a.example.net -all",
            "a.example.net": "v=spf1 include:b.example.net ~all",
            "b.example.net": "v=spf1 ip4:198.51.100.0/24 -all",
        }
    )
    assert await spf_result(r, "198.51.100.7") == "pass"
    # Inner fail/softfail only means "no match": the outer -all decides.
    assert await spf_result(r, "203.0.113.1") == "fail"


async def test_include_of_domain_without_record_is_permerror() -> None:
    r = resolver({"example.com": "v=spf1 include:nothing.example.net -all"})
    res = await check_host(
        r, ip="192.0.2.1", domain="example.com", sender="a@example.com", helo="h.example"
    )
    assert res.result == "permerror"
    assert "nothing.example.net" in res.reason


async def test_include_temperror_propagates() -> None:
    r = resolver(
        {"example.com": "v=spf1 include:broken.example.net -all"},
        {("broken.example.net", "TXT"): TemporaryError("SERVFAIL")},
    )
    assert await spf_result(r, "192.0.2.1") == "temperror"


async def test_top_level_results() -> None:
    r = resolver({}, {("broken.example", "TXT"): TemporaryError("SERVFAIL")})
    assert await spf_result(r, "192.0.2.1", "nospf.example") == "none"
    assert await spf_result(r, "192.0.2.1", "broken.example") == "temperror"
    r2 = resolver({"example.com": "v=spf1 bogus -all"})
    assert await spf_result(r2, "192.0.2.1") == "permerror"
    r3 = MockResolver({("example.com", "TXT"): [txt("v=spf1 -all"), txt("v=spf1 +all")]})
    assert await spf_result(r3, "192.0.2.1") == "permerror"
    # Not a multi-label domain (RFC 7208 §4.3).
    assert await spf_result(r, "192.0.2.1", "localhost") == "none"


def _chain(n: int) -> dict[str, str]:
    """example.com includes i1..in, each a record with a non-matching ip4."""
    recs = {f"i{i}.example.net": "v=spf1 ip4:203.0.113.1 -all" for i in range(1, n + 1)}
    incs = " ".join(f"include:i{i}.example.net" for i in range(1, n + 1))
    recs["example.com"] = f"v=spf1 {incs} ip4:192.0.2.1 -all"
    return recs


async def test_lookup_limit() -> None:
    assert await spf_result(resolver(_chain(10)), "192.0.2.1") == "pass"
    res = await check_host(
        resolver(_chain(11)), ip="192.0.2.1", domain="example.com", sender="a@example.com", helo="h"
    )
    assert res.result == "permerror"
    assert "more than 10 DNS lookups" in res.reason


async def test_lookup_limit_counts_nested_and_redirect() -> None:
    recs = {
        "example.com": "v=spf1 include:n.example.net redirect=r.example.net",
        "n.example.net": "v=spf1 " + " ".join(f"a:h{i}.example.net" for i in range(8)) + " -all",
        "r.example.net": "v=spf1 a:last.example.net -all",
    }
    extra = {(f"h{i}.example.net", "A"): ["203.0.113.9"] for i in range(8)}
    extra[("last.example.net", "A")] = ["192.0.2.1"]
    # include (1) + 8 a (9) + redirect (10) + a (11): over the limit.
    res = await check_host(
        resolver(recs, extra),
        ip="192.0.2.1",
        domain="example.com",
        sender="a@example.com",
        helo="h",
    )
    assert res.result == "permerror"
    assert "more than 10 DNS lookups (at a:last.example.net)" in res.reason


async def test_void_lookup_limit() -> None:
    two = "v=spf1 a:v1.example.net a:v2.example.net ip4:192.0.2.1 -all"
    three = "v=spf1 a:v1.example.net a:v2.example.net exists:v3.example.net ip4:192.0.2.1 -all"
    assert await spf_result(resolver({"example.com": two}), "192.0.2.1") == "pass"
    res = await check_host(
        resolver({"example.com": three}),
        ip="192.0.2.1",
        domain="example.com",
        sender="a@example.com",
        helo="h",
    )
    assert res.result == "permerror"
    assert "void lookups" in res.reason


async def test_mx_limit() -> None:
    mx = [f"{i} mx{i}.example.net." for i in range(11)]
    r = resolver({"example.com": "v=spf1 mx ip4:192.0.2.1 -all"}, {("example.com", "MX"): mx})
    res = await check_host(
        r, ip="192.0.2.1", domain="example.com", sender="a@example.com", helo="h"
    )
    assert res.result == "permerror"
    assert "more than 10 MX names" in res.reason


async def test_redirect() -> None:
    r = resolver(
        {
            "example.com": "v=spf1 redirect=_spf.example.net",
            "_spf.example.net": "v=spf1 ip4:192.0.2.1 -all",
        }
    )
    assert await spf_result(r, "192.0.2.1") == "pass"
    assert await spf_result(r, "192.0.2.2") == "fail"


async def test_redirect_ignored_when_all_present() -> None:
    r = resolver({"example.com": "v=spf1 ?all redirect=nowhere.example.net"})
    assert await spf_result(r, "192.0.2.2") == "neutral"


async def test_redirect_to_no_record_is_permerror() -> None:
    r = resolver({"example.com": "v=spf1 redirect=nowhere.example.net"})
    assert await spf_result(r, "192.0.2.2") == "permerror"


async def test_redirect_uses_target_domain_for_macros() -> None:
    r = resolver(
        {
            "example.com": "v=spf1 redirect=_spf.example.net",
            "_spf.example.net": "v=spf1 a:%{d} -all",
        },
        {("_spf.example.net", "A"): ["192.0.2.5"]},
    )
    assert await spf_result(r, "192.0.2.5") == "pass"


async def test_exists_with_macros() -> None:
    r = resolver(
        {"email.example.com": "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} -all"},
        {("3.2.0.192.strong.lp._spf.example.com", "A"): ["127.0.0.2"]},
    )
    assert (
        await spf_result(r, "192.0.2.3", "email.example.com", "strong-bad@email.example.com")
        == "pass"
    )
    assert (
        await spf_result(r, "192.0.2.4", "email.example.com", "strong-bad@email.example.com")
        == "fail"
    )


async def test_exp_explanation() -> None:
    r = resolver(
        {"example.com": "v=spf1 mx -all exp=explain._spf.%{d}"},
        {
            ("explain._spf.example.com", "TXT"): [
                txt("%{i} is not one of %{d}'s designated mail servers.")
            ]
        },
    )
    res = await check_host(
        r, ip="192.0.2.7", domain="example.com", sender="a@example.com", helo="h"
    )
    assert res.result == "fail"
    assert res.explanation == "192.0.2.7 is not one of example.com's designated mail servers."


async def test_exp_of_included_record_not_used() -> None:
    r = resolver(
        {
            "example.com": "v=spf1 include:inc.example.net -all",
            "inc.example.net": "v=spf1 -all exp=e.example.net",
        },
        {("e.example.net", "TXT"): [txt("not me")]},
    )
    res = await check_host(
        r, ip="192.0.2.7", domain="example.com", sender="a@example.com", helo="h"
    )
    assert res.result == "fail"
    assert res.explanation == ""


async def test_temperror_in_mechanism_lookup() -> None:
    r = resolver(
        {"example.com": "v=spf1 a:broken.example.net -all"},
        {("broken.example.net", "A"): TemporaryError("timeout")},
    )
    assert await spf_result(r, "192.0.2.1") == "temperror"


async def test_result_fields() -> None:
    r = resolver({"example.com": "v=spf1 ip4:192.0.2.1 -all"})
    res = await check_host(
        r, ip="192.0.2.1", domain="Example.COM.", sender="a@example.com", helo="h"
    )
    assert res.result == "pass"
    assert res.domain == "example.com"
    assert res.identity == "mailfrom"
    assert "ip4:192.0.2.1" in res.reason


# RFC 7208 §7.4 macro examples: sender strong-bad@email.example.com, IP 192.0.2.3.
@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%%%_%-", "% %20"),
        ("%{S}", "strong-bad%40email.example.com"),
    ],
)
async def test_macro_examples(macro: str, expected: str) -> None:
    ctx = MacroContext(
        sender="strong-bad@email.example.com",
        ip=ipaddress.ip_address("192.0.2.3"),
        helo="mx.example.org",
    )
    assert await expand(macro, "email.example.com", ctx) == expected


async def test_macro_ipv6_and_exp_letters() -> None:
    ctx = MacroContext(
        sender="strong-bad@email.example.com",
        ip=ipaddress.ip_address("2001:db8::cb01"),
        helo="mx.example.org",
        receiver="mx.example.com",
        timestamp=1234,
    )
    assert await expand("%{ir}.%{v}._spf.%{d2}", "email.example.com", ctx) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )
    out = await expand("%{c} %{r} %{t} %{h}", "x", ctx, exp=True)
    assert out == "2001:db8::cb01 mx.example.com 1234 mx.example.org"


async def test_expanded_domain_truncated_to_253() -> None:
    ctx = MacroContext(
        sender=("a" * 60 + ".") * 5 + "@x.example", ip=ipaddress.ip_address("192.0.2.3"), helo="h"
    )
    out = await expand_domain("%{l}.example.com", "x.example", ctx)
    assert len(out) <= 253
    assert out.endswith(".example.com")


async def test_ptr_macro_uses_validated_name() -> None:
    r = resolver(
        {"example.com": "v=spf1 exists:%{p}.ok.example.net -all"},
        {("amy.example.com.ok.example.net", "A"): ["127.0.0.2"]},
    )
    assert await spf_result(r, "192.0.2.65") == "pass"


_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
_SPFISH = st.lists(
    st.sampled_from(
        [
            "a",
            "mx",
            "ptr",
            "-all",
            "~all",
            "include:inc.example.net",
            "exists:%{i}.x.example",
            "redirect=red.example.net",
            "exp=e.example.net",
            "ip4:192.0.2.0/24",
            "ip6:2001:db8::/32",
            "a:%{d}",
            "mx:nowhere.example",
            "a/24",
            "%{z}",
            "include:",
            "x=y",
        ]
    ),
    max_size=8,
).map(lambda ts: "v=spf1 " + " ".join(ts))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_SPFISH, _PRINTABLE.map(lambda t: "v=spf1 " + t)), _SPFISH)
async def test_check_host_never_raises(record: str, included: str) -> None:
    r = resolver({"example.com": record, "inc.example.net": included, "red.example.net": included})
    res = await check_host(
        r, ip="192.0.2.65", domain="example.com", sender="a@example.com", helo="h.example"
    )
    assert res.result in ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
