"""Which addresses the server connects to for others: postel.netpolicy."""

from __future__ import annotations

import ipaddress

import pytest

from postel.config.model import DeliveryConfig
from postel.netpolicy import ALLOW_ALL, PUBLIC_ONLY, AddressPolicy, internal_kind, parse_networks


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata services
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.254", "shared (carrier-grade NAT)"),
        ("0.1.2.3", "special-purpose"),  # "this network"
        ("192.0.0.8", "special-purpose"),  # IETF protocol assignments
        ("192.0.2.1", "special-purpose"),  # documentation
        ("198.18.0.1", "special-purpose"),  # benchmarking
        ("198.51.100.1", "special-purpose"),
        ("203.0.113.1", "special-purpose"),
        ("240.0.0.1", "special-purpose"),  # reserved
        ("255.255.255.255", "special-purpose"),  # limited broadcast
        ("2001:db8::1", "special-purpose"),
        ("100::1", "special-purpose"),  # discard-only
        ("fec0::1", "special-purpose"),  # deprecated site-local
        ("64:ff9b:1::1", "special-purpose"),  # local-use NAT64 (RFC 8215)
        ("2001:4:112::1", "special-purpose"),  # IETF protocol assignments
        ("3fff::1", "special-purpose"),  # documentation (RFC 9637)
        ("::7f00:1", "special-purpose"),  # deprecated IPv4-compatible
        # IPv4 inside IPv6 is judged as the IPv4 address it reaches.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::1", "loopback"),
        ("2002:c0a8:101::1", "private"),
    ],
)
def test_internal_addresses(address: str, kind: str) -> None:
    assert internal_kind(ipaddress.ip_address(address)) == kind
    assert PUBLIC_ONLY.refusal(address) is not None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "100.128.0.1",
        "172.32.0.1",
        "11.0.0.1",
    ],
)
def test_public_addresses(address: str) -> None:
    # Classified only: nothing connects to these.
    assert internal_kind(ipaddress.ip_address(address)) is None
    assert PUBLIC_ONLY.refusal(address) is None


def test_refusal_says_what() -> None:
    assert PUBLIC_ONLY.refusal("127.0.0.9") == "a loopback address"
    assert PUBLIC_ONLY.refusal("::") == "an unspecified address"
    assert PUBLIC_ONLY.refusal("[::1]") == "a loopback address"
    assert PUBLIC_ONLY.refusal("fe80::1%eth0") == "a link-local address"
    assert PUBLIC_ONLY.refusal("mx.example") == "not an IP address"


def test_allowed_networks() -> None:
    policy = AddressPolicy.from_networks(["127.0.0.0/8", "10.1.0.0/16"])
    assert policy.refusal("127.0.0.9") is None
    assert policy.refusal("::ffff:127.0.0.9") is None  # the IPv4 it reaches is allowed
    assert policy.refusal("10.1.200.3") is None
    assert policy.refusal("10.2.0.1") == "a private address"
    assert policy.refusal("::1") == "a loopback address"
    assert ALLOW_ALL.refusal("::1") is None and ALLOW_ALL.refusal("169.254.0.1") is None


def test_split_keeps_order() -> None:
    policy = AddressPolicy.from_networks(["192.0.2.0/24"])
    assert policy.split(["127.0.0.1", "192.0.2.5", "fd00::1", "192.0.2.6"]) == (
        ["192.0.2.5", "192.0.2.6"],
        [("127.0.0.1", "a loopback address"), ("fd00::1", "a private address")],
    )


def test_parse_networks() -> None:
    assert parse_networks(["127.0.0.1/8", "::1"]) == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError, match="not an IP network: 'nope'"):
        parse_networks(["nope"])


def test_config_default_allows_none_and_validates() -> None:
    assert DeliveryConfig().allowed_internal_networks == []
    cfg = DeliveryConfig(allowed_internal_networks=["127.0.0.0/8", "::1/128"])
    assert AddressPolicy.from_networks(cfg.allowed_internal_networks).refusal("::1") is None
    with pytest.raises(ValueError, match="not an IP network"):
        DeliveryConfig(allowed_internal_networks=["localhost"])
