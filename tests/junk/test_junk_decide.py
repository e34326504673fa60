"""Where a message goes (postel.junk.decide), reputation and verified identities."""

from __future__ import annotations

from postel.auth.results import AuthResults, DKIMResult, DMARCResult, SPFResult
from postel.junk.classify import Counts, Verdict
from postel.junk.decide import Signals, Thresholds, decide
from postel.junk.reputation import Verified, identities, judge, network
from postel.junk.verified import from_headers, from_results

T = Thresholds(junk=0.9, reject=0.995, min_trained=10)
DEFAULT = Thresholds()
TRAINED = {"ham_messages": 50, "spam_messages": 50}


def verdict(score: float) -> Verdict:
    return Verdict(score, 10, (("cheap pills", 0.99),))


def test_gtube_is_refused_whatever_else() -> None:
    s = Signals(gtube=True, reputation=("good", "dmarc:friend.example"))
    assert decide(s, T).target == "refuse"


def test_score_thresholds_once_trained() -> None:
    assert decide(Signals(verdict=verdict(0.5), **TRAINED), T).target == "inbox"
    junk = decide(Signals(verdict=verdict(0.95), **TRAINED), T)
    assert junk.target == "junk" and "junk score 0.950" in junk.reasons
    assert "cheap pills (0.99)" in junk.reasons  # the deciding words are shown
    assert decide(Signals(verdict=verdict(0.999), **TRAINED), T).target == "rejects"
    assert decide(Signals(verdict=verdict(1.0), **TRAINED), DEFAULT).target == "junk"  # never
    refusing = Thresholds(reject=0.995, refuse=True)
    assert decide(Signals(verdict=verdict(0.999), **TRAINED), refusing).target == "refuse"


def test_a_new_account_starts_neutral() -> None:
    f = decide(Signals(verdict=verdict(0.999), ham_messages=3, spam_messages=30), T)
    assert f.target == "inbox" and f.reasons == ("not enough training yet",)


def test_reputation_wins_over_the_score_and_dnsbl() -> None:
    good = Signals(verdict=verdict(0.97), reputation=("good", "dmarc:a.example"),
                   dnsbl=("bl.test",), **TRAINED)  # fmt: skip
    assert decide(good, T).target == "inbox"
    bad = Signals(verdict=verdict(0.1), reputation=("bad", "ip:192.0.2.0/24"), **TRAINED)
    f = decide(bad, T)
    assert f.target == "junk" and "you marked mail from ip:192.0.2.0/24 as junk" in f.reasons


def test_dnsbl_and_dmarc_quarantine_file_in_junk() -> None:
    assert decide(Signals(dnsbl=("bl.test",)), T).reasons == ("listed by bl.test",)
    assert decide(Signals(dmarc_quarantine=True), T).target == "junk"


def test_identities_strongest_first_and_networks() -> None:
    v = Verified(dmarc_from="A.example", dkim=("a.example", "esp.example"), spf="bounce.a.example",
                 ip="192.0.2.77")  # fmt: skip
    assert identities(v) == ["dmarc:a.example", "dkim:a.example", "dkim:esp.example",
                             "spf:bounce.a.example", "ip:192.0.2.0/24"]  # fmt: skip
    assert network("2001:db8:1:2:3::9") == "2001:db8:1:2::/64"
    assert identities(Verified()) == []


def test_judge_needs_a_clear_verdict() -> None:
    ids = ["dmarc:a.example", "ip:192.0.2.0/24"]
    assert judge(ids, {}) is None
    assert judge(ids, {"dmarc:a.example": Counts(2, 1)}) is None  # mixed
    assert judge(ids, {"dmarc:a.example": Counts(3, 1)}) == ("good", "dmarc:a.example")
    assert judge(ids, {"ip:192.0.2.0/24": Counts(0, 2)}) == ("bad", "ip:192.0.2.0/24")


def test_verified_from_results_only_passes() -> None:
    r = AuthResults(
        spf=SPFResult("pass", "bounce.a.example"),
        dkim=[DKIMResult("pass", "a.example"), DKIMResult("fail", "forged.example")],
        dmarc=DMARCResult("fail", from_domain="a.example"),
    )
    assert from_results(r, "192.0.2.1") == Verified(
        dmarc_from=None, dkim=("a.example",), spf="bounce.a.example", ip="192.0.2.1"
    )


def test_verified_from_our_own_headers_only() -> None:
    msg = (
        b"Authentication-Results: mail.example.org;\r\n\tspf=pass smtp.mailfrom=b@bounce.a.example;"
        b"\r\n\tdkim=pass header.d=a.example header.s=s1;\r\n\tdkim=fail header.d=x.example;"
        b"\r\n\tdmarc=pass header.from=a.example\r\n"
        b"Received: from mx.a.example (mx.a.example [192.0.2.9]) by mail.example.org\r\n"
        b"Authentication-Results: mail.example.org; dmarc=pass header.from=older.example\r\n"
        b"Authentication-Results: elsewhere.example; dmarc=pass header.from=evil.example\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )
    assert from_headers(msg, "mail.example.org") == Verified(
        dmarc_from="a.example", dkim=("a.example",), spf="bounce.a.example", ip="192.0.2.9"
    )
    assert from_headers(msg, "other.example").dmarc_from is None


def test_rspamd_verdict_combined_and_always_among_the_reasons() -> None:
    rejected = decide(Signals(rspamd=("reject", 15.0)), T)
    assert rejected.target == "rejects" and rejected.reasons == ("rspamd: reject (15.0)",)
    assert decide(Signals(rspamd=("reject", 15.0)), Thresholds(refuse=True)).target == "refuse"
    added = decide(Signals(rspamd=("add header", 6.5)), T)
    assert added.target == "junk" and added.reasons == ("rspamd: add header (6.5)",)
    assert decide(Signals(rspamd=("rewrite subject", 9.0)), T).target == "junk"
    # Actions postel has no use for (it neither greylists nor defers) only show.
    for action in ("no action", "greylist", "soft reject"):
        f = decide(Signals(rspamd=(action, 4.0)), T)
        assert f.target == "inbox"
        assert f.reasons == ("not enough training yet", f"rspamd: {action} (4.0)")
    # Whatever decided, the user sees what rspamd said too.
    gtube = decide(Signals(gtube=True, rspamd=("reject", 15.0)), T)
    assert gtube.target == "refuse"
    assert gtube.reasons == ("GTUBE test string", "rspamd: reject (15.0)")
    kept = decide(Signals(reputation=("good", "dmarc:f.example"), rspamd=("add header", 7.0)), T)
    assert kept.target == "inbox" and kept.reasons[-1] == "rspamd: add header (7.0)"
    scored = decide(Signals(verdict=verdict(0.95), rspamd=("no action", 0.0), **TRAINED), T)
    assert scored.target == "junk" and scored.reasons[-1] == "rspamd: no action (0.0)"
