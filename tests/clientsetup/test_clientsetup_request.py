"""Which hosted domain a setup request is about (postel.clientsetup.request)."""

from __future__ import annotations

import pytest

from postel.clientsetup import BadSetupRequest
from postel.clientsetup.request import checked_address, host_domain, request_domain
from postel.config.domains import DomainsConfig

DOMAINS = DomainsConfig.model_validate(
    {"domains": {"example.org": {}, "bücher.example": {}}, "accounts": {}}
)


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("autoconfig.example.org", "example.org"),
        ("autodiscover.example.org", "example.org"),
        ("example.org", "example.org"),
        ("autoconfig.xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("autoconfig.other.example", None),
        ("mail.example.org", None),
        ("", None),
        ("autoconfig.", None),
    ],
)
def test_host_domain(host: str, want: str | None) -> None:
    assert host_domain(DOMAINS, host) == want


def test_request_domain_from_address_or_host() -> None:
    assert request_domain(DOMAINS, "mail.example.org", "a@example.org") == "example.org"
    assert request_domain(DOMAINS, "autoconfig.example.org", None) == "example.org"
    assert request_domain(DOMAINS, "mail.example.org", None) is None
    # Not hosted, or the address and the host name different domains: nothing.
    assert request_domain(DOMAINS, "mail.example.org", "a@other.example") is None
    assert request_domain(DOMAINS, "autoconfig.example.org", "a@xn--bcher-kva.example") is None


def test_checked_address() -> None:
    assert checked_address("a@Bücher.example", "emailaddress") == "a@xn--bcher-kva.example"
    for bad in ("no-at-sign", "a@b", "<a>@example.org", "a@" + "x" * 260 + ".org", "@example.org"):
        with pytest.raises(BadSetupRequest, match=r"^emailaddress: "):
            checked_address(bad, "emailaddress")


def test_setup_host_of_other_domain_wins_over_address() -> None:
    assert request_domain(DOMAINS, "autoconfig.other.example", "a@example.org") is None
    assert request_domain(DOMAINS, "autodiscover.other.example", "a@example.org") is None
