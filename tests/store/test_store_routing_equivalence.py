"""The cached recipient routing and check_domain give exactly what the former
implementation (tests/store/routing_former.py) gave, also after a reload of
the domains configuration, and log their warnings every time."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import routing_former as former
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.config import DomainsConfig
from postel.config import names as config_names
from postel.config.model import HostTLSRPT
from postel.store import routing

HOST = "mail.example.org"
TLSRPT = HostTLSRPT(localpart="tlsrpt", account="admin", mailbox="HostTLSRPT")


def domains_config(extra_alias: list[str] | None = None) -> DomainsConfig:
    aliases: dict[str, list[str]] = {
        "team": ["Alice@example.org", "bob@example.org", "friend@elsewhere.example"],
        "Team2": ["team@example.org", "carol@bücher.example"],
        "TEAM2": ["bob@example.org"],  # same lower-case alias: the first wins
        "loop1": ["loop2@example.org", "alice@example.org"],
        "loop2": ["loop1@example.org"],
        "ghost": ["nobody@example.org"],
        "outside": ["x@elsewhere.example"],
    }
    if extra_alias is not None:
        aliases["new"] = extra_alias
    return DomainsConfig.model_validate(
        {
            "domains": {
                "example.org": {
                    "dmarc_reports": {"localpart": "dmarc", "account": "admin", "mailbox": "D"},
                    "tlsrpt_reports": {"localpart": "tls", "account": "admin", "mailbox": "T"},
                    "aliases": aliases,
                },
                "bücher.example": {},
            },
            "accounts": {
                "alice": {"domain": "example.org", "addresses": ["Alice@example.org"]},
                "bob": {
                    "domain": "example.org",
                    "addresses": ["bob@example.org", "b+b@example.org"],
                },
                "carol": {"domain": "bücher.example", "addresses": ["carol@bücher.example"]},
                "admin": {"domain": "example.org", "addresses": ["admin@example.org"]},
            },
        }
    )


DOMAINS = domains_config()
OPTIONS: list[dict[str, Any]] = [
    {"hostname": HOST, "host_tlsrpt": TLSRPT, "postmaster_account": "admin"},
    {"hostname": "MAIL.example.org.", "postmaster_account": "admin", "postmaster_mailbox": "PM"},
    {"hostname": HOST, "host_tlsrpt": HostTLSRPT(), "postmaster_account": None},
    {"hostname": "localhost"},  # not a valid host name: ValueError, as before
]

ATOMS = [
    "alice", "ALICE", "bob", "b", "+", "b+b", "team", "Team2", "team2", "loop1", "ghost",
    "outside", "dmarc", "TLS", "tlsrpt", "postmaster", "PostMaster", "nobody", "carol", "new",
    "@", "@example.org", "@EXAMPLE.org.", "@bücher.example", "@xn--bcher-kva.example",
    f"@{HOST}", "@elsewhere.example", "@[192.0.2.1]", " ", ".", "x", "é", "-",
]  # fmt: skip
addresses = st.one_of(
    st.lists(st.sampled_from(ATOMS), max_size=6).map("".join), st.text(max_size=40)
)


def outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:
        return "error", (type(exc).__name__, str(exc))


def same(domains: DomainsConfig, address: str, options: dict[str, Any]) -> None:
    expected = outcome(lambda: former.resolve_recipient(domains, address, **options))
    assert outcome(lambda: routing.resolve_recipient(domains, address, **options)) == expected
    # again: from the cache
    assert outcome(lambda: routing.resolve_recipient(domains, address, **options)) == expected


@settings(max_examples=300, deadline=None)
@given(addresses, st.sampled_from(range(len(OPTIONS))))
def test_resolve_recipient_as_before(address: str, option: int) -> None:
    same(DOMAINS, address, OPTIONS[option])


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.org", "ALICE@Example.ORG", "alice+x@example.org", "b+b@example.org",
        "b+c@example.org", "team@example.org", "TEAM2@example.org", "loop1@example.org",
        "ghost@example.org", "outside@example.org", "dmarc@example.org", "tls@example.org",
        f"tlsrpt@{HOST}", "postmaster", " Postmaster ", "postmaster@bücher.example",
        "carol@xn--bcher-kva.example", "nobody@elsewhere.example", "not an address",
    ],
)  # fmt: skip
def test_examples_as_before(address: str) -> None:
    for options in OPTIONS:
        same(DOMAINS, address, options)


def test_reloaded_domains_are_used_at_once() -> None:
    old = domains_config()
    assert routing.resolve_recipient(old, "new@example.org", hostname=HOST) is None
    new = domains_config(["bob@example.org"])  # what a reload of domains.toml makes
    dest = routing.resolve_recipient(new, "new@example.org", hostname=HOST)
    assert dest is not None and dest.accounts == [("bob", "Inbox")]
    assert routing.resolve_recipient(old, "new@example.org", hostname=HOST) is None


def test_reloaded_config_object_is_used_at_once() -> None:
    class Cfg:  # what resolve_for_config reads of a Config
        def __init__(self, domains: DomainsConfig) -> None:
            self.domains = domains
            self.static = type(
                "S", (), {"hostname": HOST, "host_tlsrpt": TLSRPT,
                          "postmaster_account": "admin", "postmaster_mailbox": "Postmaster"},
            )()  # fmt: skip

    cfg = Cfg(domains_config())
    assert routing.resolve_for_config(cfg, "new@example.org") is None  # type: ignore[arg-type]
    cfg.domains = domains_config(["alice@example.org"])  # worker._watch_domains does this
    dest = routing.resolve_for_config(cfg, "new@example.org")  # type: ignore[arg-type]
    assert dest is not None and dest.accounts == [("alice", "Inbox")]


def test_alias_warnings_logged_each_time(caplog: pytest.LogCaptureFixture) -> None:
    domains = domains_config()

    def logged(resolve: Any) -> list[tuple[str, Any, Any]]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="postel.store"):
            assert resolve(domains, "ghost@example.org", hostname=HOST) is None
            dest = resolve(domains, "loop1@example.org", hostname=HOST)
            assert dest is not None and dest.accounts == [("alice", "Inbox")]
        return [(r.getMessage(), getattr(r, "alias", None), getattr(r, "target", None))
                for r in caplog.records]  # fmt: skip

    expected = logged(former.resolve_recipient)
    assert len(expected) >= 2
    for _ in range(3):
        assert logged(routing.resolve_recipient) == expected


def test_caches_are_bounded() -> None:
    domains = domains_config()
    for i in range(routing._RESULTS_MAX + 10):
        routing.resolve_recipient(domains, f"u{i}@example.org", hostname=HOST)
    for ctx in routing._CONTEXTS.values():
        assert len(ctx.results) <= routing._RESULTS_MAX
    for _ in range(routing._CONTEXTS_MAX + 3):
        routing.resolve_recipient(domains_config(), "alice@example.org", hostname=HOST)
    assert len(routing._CONTEXTS) <= routing._CONTEXTS_MAX
    for i in range(config_names._CHECKED_MAX + 10):
        config_names.check_domain(f"d{i}.example")
    assert len(config_names._CHECKED) <= config_names._CHECKED_MAX


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(ATOMS), max_size=5).map("".join), st.text(max_size=40)))
def test_check_domain_as_before(value: str) -> None:
    expected = outcome(lambda: former.check_domain(value))
    assert outcome(lambda: config_names.check_domain(value)) == expected
    assert outcome(lambda: config_names.check_domain(value)) == expected
