"""DKIM signing and verification round trips (RFC 6376, RFC 8463) over MockResolver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postel.auth import DKIMSigner, public_key_record, sign_message, verify_dkim
from postel.auth.errors import DKIMKeyError, DKIMSignError
from postel.config import Config, DomainsConfig, StaticConfig
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver

MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: Hello\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Hi Bob,\r\n"
    b"this is the body.\r\n"
)


def txt(value: str) -> str:
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{c}"' for c in chunks)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture()
def signer(ed_key: ed25519.Ed25519PrivateKey, rsa_key: rsa.RSAPrivateKey) -> DKIMSigner:
    return DKIMSigner.from_keys("example.com", {"ed": ed_key, "rsa": rsa_key})


@pytest.fixture()
def keys_dns(ed_key: ed25519.Ed25519PrivateKey, rsa_key: rsa.RSAPrivateKey) -> MockResolver:
    return MockResolver(
        {
            ("ed._domainkey.example.com", "TXT"): [txt(public_key_record(ed_key))],
            ("rsa._domainkey.example.com", "TXT"): [txt(public_key_record(rsa_key))],
        }
    )


def test_sign_prepends_one_signature_per_selector(signer: DKIMSigner) -> None:
    signed = sign_message(signer, MESSAGE)
    assert signed.endswith(MESSAGE)
    head = signed[: len(signed) - len(MESSAGE)]
    sigs = re.findall(rb"^DKIM-Signature:", head, flags=re.M)
    assert len(sigs) == 2
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    first, second = unfolded.split(b"\r\n")[:2]
    assert b"a=ed25519-sha256" in first and b"s=ed" in first
    assert b"a=rsa-sha256" in second and b"s=rsa" in second
    for line in (first, second):
        assert b"c=relaxed/relaxed" in line
        assert b"d=example.com" in line
        # Only headers present in the message are signed.
        h = re.search(rb"h=([^;]+);", line)
        assert h is not None
        signed_names = [x.strip() for x in h.group(1).split(b":")]
        assert signed_names == [b"from", b"to", b"subject", b"date", b"message-id"]


async def test_round_trip_ed25519_and_rsa(signer: DKIMSigner, keys_dns: MockResolver) -> None:
    results = await verify_dkim(keys_dns, sign_message(signer, MESSAGE))
    assert [(r.result, r.domain, r.selector, r.algorithm) for r in results] == [
        ("pass", "example.com", "ed", "ed25519-sha256"),
        ("pass", "example.com", "rsa", "rsa-sha256"),
    ]


async def test_round_trip_lf_line_endings(signer: DKIMSigner, keys_dns: MockResolver) -> None:
    msg = MESSAGE.replace(b"\r\n", b"\n")
    signed = sign_message(signer, msg)
    assert b"\r\n" not in signed
    results = await verify_dkim(keys_dns, signed)
    assert [r.result for r in results] == ["pass", "pass"]


async def test_tampered_body_fails(signer: DKIMSigner, keys_dns: MockResolver) -> None:
    signed = sign_message(signer, MESSAGE).replace(b"this is the body", b"this is a forgery")
    results = await verify_dkim(keys_dns, signed)
    assert [r.result for r in results] == ["fail", "fail"]
    assert all("body hash mismatch" in r.reason for r in results)


async def test_tampered_header_fails(signer: DKIMSigner, keys_dns: MockResolver) -> None:
    signed = sign_message(signer, MESSAGE).replace(b"Subject: Hello", b"Subject: Pay now")
    results = await verify_dkim(keys_dns, signed)
    assert [r.result for r in results] == ["fail", "fail"]


async def test_relaxed_canonicalisation_tolerates_whitespace(
    signer: DKIMSigner, keys_dns: MockResolver
) -> None:
    signed = sign_message(signer, MESSAGE).replace(b"Subject: Hello", b"subject:   Hello  ")
    signed = signed.replace(b"this is the body.\r\n", b"this is  the body.  \r\n\r\n")
    results = await verify_dkim(keys_dns, signed)
    assert [r.result for r in results] == ["pass", "pass"]


async def test_key_lookup_problems(signer: DKIMSigner, rsa_key: rsa.RSAPrivateKey) -> None:
    r = MockResolver(
        {
            ("ed._domainkey.example.com", "TXT"): TemporaryError("SERVFAIL"),
            ("rsa._domainkey.example.com", "TXT"): [txt("v=DKIM1; k=rsa; p=")],
        }
    )
    results = await verify_dkim(r, sign_message(signer, MESSAGE))
    assert results[0].result == "temperror"
    assert results[1].result == "permerror" and results[1].reason == "key revoked"
    results = await verify_dkim(MockResolver({}), sign_message(signer, MESSAGE))
    assert [r.result for r in results] == ["permerror", "permerror"]
    assert "no key at ed._domainkey.example.com" in results[0].reason


async def test_wrong_key_fails(signer: DKIMSigner, rsa_key: rsa.RSAPrivateKey) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    r = MockResolver(
        {
            ("ed._domainkey.example.com", "TXT"): [txt(public_key_record(other))],
            ("rsa._domainkey.example.com", "TXT"): [txt(public_key_record(rsa_key))],
        }
    )
    results = await verify_dkim(r, sign_message(signer, MESSAGE))
    assert [r.result for r in results] == ["fail", "pass"]


async def test_key_type_mismatch_is_permerror(
    signer: DKIMSigner, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    r = MockResolver(
        {
            ("ed._domainkey.example.com", "TXT"): [txt(public_key_record(ed_key))],
            ("rsa._domainkey.example.com", "TXT"): [txt(public_key_record(ed_key))],
        }
    )
    results = await verify_dkim(r, sign_message(signer, MESSAGE))
    assert [r.result for r in results] == ["pass", "permerror"]


async def test_unsigned_and_garbage_signatures() -> None:
    assert await verify_dkim(MockResolver({}), MESSAGE) == []
    garbage = b"DKIM-Signature: this is not a tag list\r\n" + MESSAGE
    results = await verify_dkim(MockResolver({}), garbage)
    assert len(results) == 1 and results[0].result == "permerror"
    missing = b"DKIM-Signature: v=1; a=rsa-sha256; b=abcd\r\n" + MESSAGE
    results = await verify_dkim(MockResolver({}), missing)
    assert results[0].result == "permerror"


async def test_at_most_five_signatures(signer: DKIMSigner, keys_dns: MockResolver) -> None:
    msg = MESSAGE
    for _ in range(4):
        msg = sign_message(signer, msg)  # 8 signatures
    results = await verify_dkim(keys_dns, msg)
    assert len(results) == 5


def test_sign_needs_from(signer: DKIMSigner) -> None:
    with pytest.raises(DKIMSignError, match="no From"):
        sign_message(signer, b"To: x@example.org\r\n\r\nbody\r\n")


def _config(tmp_path: Path, domains: dict) -> Config:
    return Config(
        dir=tmp_path,
        static=StaticConfig.model_construct(),
        domains=DomainsConfig.model_validate({"domains": domains}),
    )


def _write(path: Path, key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


async def test_from_config(
    tmp_path: Path,
    ed_key: ed25519.Ed25519PrivateKey,
    rsa_key: rsa.RSAPrivateKey,
    keys_dns: MockResolver,
) -> None:
    _write(tmp_path / "ed.pem", ed_key)
    _write(tmp_path / "rsa.pem", rsa_key)
    cfg = _config(
        tmp_path,
        {
            "example.com": {
                "dkim": {
                    "selectors": {
                        "ed": {"algorithm": "ed25519", "key_file": "ed.pem"},
                        "rsa": {
                            "algorithm": "rsa",
                            "key_file": "rsa.pem",
                            "headers": ["From", "Subject"],
                        },
                        "old": {"algorithm": "rsa", "key_file": "missing.pem"},
                    },
                    "sign": ["ed", "rsa"],
                }
            },
            "example.net": {},
        },
    )
    signer = DKIMSigner.from_config(cfg, "Example.COM")
    assert signer is not None
    assert signer.domain == "example.com"
    assert [(s.name, s.algorithm) for s in signer.selectors] == [("ed", "ed25519"), ("rsa", "rsa")]
    assert signer.selectors[1].headers == ("From", "Subject")
    assert DKIMSigner.from_config(cfg, "example.net") is None
    assert DKIMSigner.from_config(cfg, "unknown.example") is None
    results = await verify_dkim(keys_dns, sign_message(signer, MESSAGE))
    assert [r.result for r in results] == ["pass", "pass"]


def test_from_config_bad_key(tmp_path: Path, ed_key: ed25519.Ed25519PrivateKey) -> None:
    _write(tmp_path / "ed.pem", ed_key)
    cfg = _config(
        tmp_path,
        {
            "example.com": {
                "dkim": {
                    "selectors": {"s": {"algorithm": "rsa", "key_file": "ed.pem"}},
                    "sign": ["s"],
                }
            }
        },
    )
    with pytest.raises(DKIMKeyError, match="selector s"):
        DKIMSigner.from_config(cfg, "example.com")
    cfg = _config(
        tmp_path,
        {
            "example.com": {
                "dkim": {
                    "selectors": {"s": {"algorithm": "rsa", "key_file": "nope.pem"}},
                    "sign": ["s"],
                }
            }
        },
    )
    with pytest.raises(DKIMKeyError, match=r"nope\.pem"):
        DKIMSigner.from_config(cfg, "example.com")
