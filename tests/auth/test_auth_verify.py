"""verify_message end to end over MockResolver, Authentication-Results (RFC 8601)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from postel.auth import (
    AuthResults,
    DKIMResult,
    DKIMSigner,
    DMARCResult,
    SPFResult,
    public_key_record,
    sign_message,
    verify_message,
)
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver

HOST = "mx.example.org"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Hello\r\n\r\nHello Bob\r\n"
)


def txt(value: str) -> str:
    return '"' + value + '"'


@pytest.fixture(scope="module")
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture()
def dns(key: ed25519.Ed25519PrivateKey) -> MockResolver:
    return MockResolver(
        {
            ("example.com", "TXT"): [txt("v=spf1 ip4:192.0.2.1 -all")],
            ("_dmarc.example.com", "TXT"): [txt("v=DMARC1; p=reject; rua=mailto:agg@example.com")],
            ("sel._domainkey.example.com", "TXT"): [txt(public_key_record(key))],
            ("helo.example.com", "TXT"): [txt("v=spf1 a -all")],
            ("helo.example.com", "A"): ["192.0.2.1"],
        }
    )


async def test_all_pass(dns: MockResolver, key: ed25519.Ed25519PrivateKey) -> None:
    signed = sign_message(DKIMSigner.from_keys("example.com", {"sel": key}), MESSAGE)
    res = await verify_message(
        dns,
        ip="192.0.2.1",
        helo="helo.example.com",
        mail_from="alice@example.com",
        message=signed,
        hostname=HOST,
    )
    assert res.spf.result == "pass" and res.spf.domain == "example.com"
    assert [(d.result, d.domain, d.selector) for d in res.dkim] == [("pass", "example.com", "sel")]
    assert res.dmarc.result == "pass"
    assert res.dmarc.aligned_spf and res.dmarc.aligned_dkim
    assert res.dmarc.rua == ["mailto:agg@example.com"]
    assert res.disposition() == "accept"
    assert res.header(HOST, fold=False) == (
        "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.com; "
        "dkim=pass header.d=example.com header.s=sel header.a=ed25519-sha256; "
        "dmarc=pass header.from=example.com"
    )


async def test_forgery_is_rejected(dns: MockResolver) -> None:
    res = await verify_message(
        dns,
        ip="203.0.113.5",
        helo="evil.example",
        mail_from="alice@example.com",
        message=MESSAGE,
        hostname=HOST,
    )
    assert res.spf.result == "fail"
    assert res.dkim == []
    assert res.dmarc.result == "fail" and res.dmarc.policy == "reject"
    assert res.disposition() == "reject"
    assert res.header(HOST, fold=False) == (
        "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=example.com; "
        "dkim=none; dmarc=fail (p=reject) header.from=example.com"
    )


async def test_spf_pass_for_other_domain_does_not_align(dns: MockResolver) -> None:
    dns.set("bounce.example.net", "TXT", [txt("v=spf1 +all")])
    res = await verify_message(
        dns,
        ip="203.0.113.5",
        helo="x.example.net",
        mail_from="b@bounce.example.net",
        message=MESSAGE,
        hostname=HOST,
    )
    assert res.spf.result == "pass"
    assert res.dmarc.result == "fail"
    assert res.disposition() == "reject"


async def test_null_sender_checks_helo(dns: MockResolver) -> None:
    res = await verify_message(
        dns, ip="192.0.2.1", helo="helo.example.com", mail_from="", message=MESSAGE, hostname=HOST
    )
    assert res.spf.result == "pass"
    assert res.spf.identity == "helo"
    assert "spf=pass smtp.helo=helo.example.com" in res.header(HOST)
    # helo.example.com is in example.com: relaxed alignment passes.
    assert res.dmarc.result == "pass"
    res = await verify_message(
        dns, ip="192.0.2.1", helo="[192.0.2.1]", mail_from="", message=MESSAGE, hostname=HOST
    )
    assert res.spf.result == "none"


async def test_tampered_message(dns: MockResolver, key: ed25519.Ed25519PrivateKey) -> None:
    signed = sign_message(DKIMSigner.from_keys("example.com", {"sel": key}), MESSAGE)
    signed = signed.replace(b"Hello Bob", b"Send money")
    res = await verify_message(
        dns, ip="203.0.113.5", helo="evil.example", mail_from="", message=signed, hostname=HOST
    )
    assert res.dkim[0].result == "fail"
    assert res.dmarc.result == "fail"
    header = res.header(HOST, fold=False)
    assert 'dkim=fail reason="body hash mismatch' in header
    assert res.disposition() == "reject"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"To: x@example.org\r\n\r\nbody\r\n", "none"),
        (b"From: a@example.com\r\nFrom: b@example.net\r\n\r\nbody\r\n", "permerror"),
    ],
)
async def test_from_header_problems(dns: MockResolver, message: bytes, expected: str) -> None:
    res = await verify_message(
        dns,
        ip="203.0.113.5",
        helo="evil.example",
        mail_from="alice@example.com",
        message=message,
        hostname=HOST,
    )
    assert res.dmarc.result == expected
    assert res.disposition() == "accept"
    assert f"dmarc={expected}" in res.header(HOST)


async def test_dns_failures_are_temperror() -> None:
    r = MockResolver(
        {
            ("example.com", "TXT"): TemporaryError("SERVFAIL"),
            ("_dmarc.example.com", "TXT"): TemporaryError("SERVFAIL"),
        }
    )
    res = await verify_message(
        r,
        ip="203.0.113.5",
        helo="evil.example",
        mail_from="alice@example.com",
        message=MESSAGE,
        hostname=HOST,
    )
    assert res.spf.result == "temperror"
    assert res.dmarc.result == "temperror"
    assert res.disposition() == "accept"


def test_header_folding_and_quoting() -> None:
    res = AuthResults(
        SPFResult("softfail", "example.com"),
        [
            DKIMResult("pass", "example.com", "a", "rsa-sha256"),
            DKIMResult("fail", "example.net", "b", "ed25519-sha256", 'bad "sig" \\ here'),
        ],
        DMARCResult("pass", "none", "example.com"),
    )
    header = res.header("mx.example.org")
    lines = header.split("\r\n")
    assert lines[0] == "Authentication-Results: mx.example.org;"
    assert lines[1] == "\tspf=softfail smtp.mailfrom=example.com;"
    assert lines[2] == "\tdkim=pass header.d=example.com header.s=a header.a=rsa-sha256;"
    assert lines[3] == (
        '\tdkim=fail reason="bad \\"sig\\" \\\\ here" header.d=example.net header.s=b '
        "header.a=ed25519-sha256;"
    )
    assert lines[4] == "\tdmarc=pass header.from=example.com"
    assert all(len(line) < 998 for line in lines)
