"""The pure DNS checks: each section's errors, warnings and fixes from given facts."""

from __future__ import annotations

from postel.dnscheck.checks import (
    all_sections,
    check_dkim,
    check_dmarc,
    check_mtasts,
    check_mx,
    check_reverse,
    check_spf,
    check_starttls,
    check_tlsa,
    check_tlsrpt,
)
from postel.dnscheck.model import Expected, Facts, Found, PolicyFetch, Probe

HOST = "mail.example.org"
DOMAIN = "example.org"
KEY = "3 1 1 " + "ab" * 32

EXP = Expected(
    mx_host=HOST,
    tlsa=(KEY,),
    tlsa_line=(f"_25._tcp.{HOST}. 300 IN TLSA {KEY}",),
    dkim={"s1": ("v=DKIM1; k=ed25519; p=AAAA", f's1._domainkey.{DOMAIN}. 300 IN TXT "..."')},
    lines={
        "mx": (f"{DOMAIN}. 300 IN MX 10 {HOST}.",),
        "spf": (f'{DOMAIN}. 300 IN TXT "v=spf1 mx -all"',),
        "dmarc": (f'_dmarc.{DOMAIN}. 300 IN TXT "v=DMARC1; p=reject"',),
        "tlsrpt": (f'_smtp._tls.{DOMAIN}. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@{DOMAIN}"',),
        "mtasts": (f'_mta-sts.{DOMAIN}. 300 IN TXT "v=STSv1; id=abc"',),
        "client": (f"autoconfig.{DOMAIN}. 300 IN CNAME {HOST}.",),
    },
    dmarc_rua=f"dmarc@{DOMAIN}",
    tlsrpt_rua=f"tls@{DOMAIN}",
    mtasts_id="abc",
    mtasts_policy=f"version: STSv1\r\nmode: enforce\r\nmx: {HOST}\r\nmax_age: 604800\r\n",
)


def facts(**kw: object) -> Facts:
    f = Facts(domain=DOMAIN, hostname=HOST, validating=True)
    for k, v in kw.items():
        setattr(f, k, v)
    return f


def txt(name: str, *values: str, authentic: bool = True) -> Found:
    return Found(name, "TXT", values, authentic=authentic)


def missing(name: str, rdtype: str) -> Found:
    return Found(name, rdtype, missing=True)


def test_mx_pointing_elsewhere_is_an_error_with_the_fix() -> None:
    s = check_mx(facts(mx=Found(DOMAIN, "MX", ("10 mx.other.example.",), True)), EXP)
    assert s.status == "error"
    assert "point to mx.other.example, not to this server" in s.errors[0]
    assert s.fixes == [f"{DOMAIN}. 300 IN MX 10 {HOST}."]


def test_mx_ours_with_backup_warns() -> None:
    mx = Found(DOMAIN, "MX", (f"10 {HOST}.", "20 backup.example."), True)
    s = check_mx(facts(mx=mx), EXP)
    assert s.status == "warning" and "backup.example" in s.warnings[0]


def test_mx_missing() -> None:
    s = check_mx(facts(mx=missing(DOMAIN, "MX")), EXP)
    assert s.errors == [f"no MX record at {DOMAIN}"]


def test_reverse_dns() -> None:
    ok = check_reverse(
        facts(
            our_ips=["192.0.2.1"],
            host_a=Found(HOST, "A", ("192.0.2.1",), True),
            ptr={"192.0.2.1": Found("1.2.0.192.in-addr.arpa", "PTR", (f"{HOST}.",))},
        )
    )
    assert ok.status == "ok"
    bad = check_reverse(
        facts(
            our_ips=["192.0.2.1"],
            host_a=Found(HOST, "A", ("192.0.2.9",), True),
            ptr={"192.0.2.1": Found("1.2.0.192.in-addr.arpa", "PTR", ("other.example.",))},
        )
    )
    assert len(bad.errors) == 2
    assert f"{HOST}. 300 IN A 192.0.2.1" in bad.fixes


def test_starttls() -> None:
    good = check_starttls(facts(probes=[Probe(HOST, "192.0.2.1", starttls=True)]), EXP)
    assert good.status == "ok"
    bad = check_starttls(
        facts(
            probes=[
                Probe(HOST, "192.0.2.1", starttls=True, cert_error="certificate expired"),
                Probe("mx2.example", "192.0.2.2", error="connection refused"),
            ]
        ),
        EXP,
    )
    assert len(bad.errors) == 2 and "certificate expired" in bad.errors[0]
    assert bad.fixes


def test_tlsa_mismatch_is_an_error_and_missing_a_warning() -> None:
    name = f"_25._tcp.{HOST}"
    other = "3 1 1 " + "cd" * 32
    s = check_tlsa(facts(tlsa=Found(name, "TLSA", (other,), True)), EXP)
    assert s.status == "error" and s.fixes == list(EXP.tlsa_line)
    s = check_tlsa(facts(tlsa=missing(name, "TLSA")), EXP)
    assert s.status == "warning"
    s = check_tlsa(facts(tlsa=Found(name, "TLSA", (KEY.upper().replace("AB", "ab"),), False)), EXP)
    assert s.status == "warning" and "not DNSSEC-signed" in s.warnings[0]
    s = check_tlsa(facts(tlsa=Found(name, "TLSA", (KEY,), True)), EXP)
    assert s.status == "ok"


def test_spf() -> None:
    s = check_spf(
        facts(
            spf=txt(DOMAIN, "v=spf1 -all"),
            spf_results={"192.0.2.1": ("fail", "matched -all")},
            host_spf=txt(HOST, "v=spf1 a -all"),
            host_spf_results={"192.0.2.1": ("pass", "")},
        ),
        EXP,
    )
    assert s.status == "error" and "gives fail for 192.0.2.1" in s.errors[0]
    s = check_spf(facts(spf=txt(DOMAIN, "v=spf1 mx -all", "v=spf1 -all")), EXP)
    assert "2 SPF records" in s.errors[0]
    s = check_spf(facts(spf=txt(DOMAIN, "other"), host_spf=missing(HOST, "TXT")), EXP)
    assert s.errors == [f"no SPF record at {DOMAIN}"]
    assert s.warnings == [f"no SPF record at {HOST}"]


def test_dkim() -> None:
    name = f"s1._domainkey.{DOMAIN}"
    good = check_dkim(facts(dkim={"s1": txt(name, "v=DKIM1; k=ed25519; p=AAAA")}), EXP)
    assert good.status == "ok"
    s = check_dkim(facts(dkim={"s1": txt(name, "v=DKIM1; k=ed25519; p=BBBB")}), EXP)
    assert "not the key postel signs with" in s.errors[0]
    s = check_dkim(facts(dkim={"s1": missing(name, "TXT")}), EXP)
    assert s.status == "error"


def test_dmarc() -> None:
    name = f"_dmarc.{DOMAIN}"
    s = check_dmarc(facts(dmarc=txt(name, f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}")), EXP)
    assert s.status == "ok"
    s = check_dmarc(facts(dmarc=txt(name, "v=DMARC1; p=none")), EXP)
    assert s.status == "warning" and "p=none" in s.warnings[0]
    assert "does not send aggregate reports" in s.warnings[1]
    s = check_dmarc(facts(dmarc=missing(name, "TXT")), EXP)
    assert s.status == "error"
    s = check_dmarc(facts(dmarc=txt(name, "v=DMARC1; p=reject", "v=DMARC1; p=none")), EXP)
    assert "2 DMARC records" in s.errors[0]


def test_tlsrpt() -> None:
    name = f"_smtp._tls.{DOMAIN}"
    ok = check_tlsrpt(facts(tlsrpt=txt(name, f"v=TLSRPTv1; rua=mailto:tls@{DOMAIN}")), EXP)
    assert ok.status == "ok"
    other = check_tlsrpt(facts(tlsrpt=txt(name, "v=TLSRPTv1; rua=mailto:x@y.example")), EXP)
    assert other.status == "warning"
    none = check_tlsrpt(facts(tlsrpt=missing(name, "TXT")), EXP)
    assert none.status == "error" and none.fixes == list(EXP.lines["tlsrpt"])


def test_mtasts() -> None:
    rec = txt(f"_mta-sts.{DOMAIN}", "v=STSv1; id=abc")
    mx = Found(DOMAIN, "MX", (f"10 {HOST}.",), True)
    good = PolicyFetch(text=EXP.mtasts_policy)
    assert check_mtasts(facts(mtasts_record=rec, mtasts_policy=good, mx=mx), EXP).status == "ok"
    stale = txt(f"_mta-sts.{DOMAIN}", "v=STSv1; id=old")
    s = check_mtasts(facts(mtasts_record=stale, mtasts_policy=good, mx=mx), EXP)
    assert "id=old" in s.errors[0]
    testing = PolicyFetch(text="version: STSv1\nmode: testing\nmx: other.example\nmax_age: 600\n")
    s = check_mtasts(facts(mtasts_record=rec, mtasts_policy=testing, mx=mx), EXP)
    assert any("testing" in w for w in s.warnings)
    assert any("max_age is 600" in w for w in s.warnings)
    assert f"MX host {HOST} is not allowed" in s.errors[0]
    s = check_mtasts(facts(mtasts_record=rec, mtasts_policy=PolicyFetch(error="404"), mx=mx), EXP)
    assert "could not be fetched" in s.errors[0]


def test_all_sections_names() -> None:
    names = [s.name for s in all_sections(facts(), EXP)]
    assert names == [
        "DNSSEC",
        "Reverse DNS",
        "MX",
        "STARTTLS",
        "TLSA (DANE)",
        "SPF",
        "DKIM",
        "DMARC",
        "TLS reporting",
        "MTA-STS",
        "Client settings",
    ]
