"""Recipient routing: accounts, aliases, report addresses, postmaster, +tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.config import DomainsConfig, load_config
from postel.config.model import HostTLSRPT
from postel.store.routing import Destination, resolve_for_config, resolve_recipient

HOST = "mail.example.org"

DOMAINS = DomainsConfig.model_validate(
    {
        "domains": {
            "example.org": {
                "dmarc_reports": {
                    "localpart": "dmarc-reports",
                    "account": "admin",
                    "mailbox": "DMARC",
                },
                "tlsrpt_reports": {
                    "localpart": "tls-reports",
                    "account": "admin",
                    "mailbox": "TLSRPT",
                },
                "aliases": {
                    "team": ["Alice@example.org", "bob@example.org", "friend@elsewhere.example"],
                    "everyone": ["team@example.org", "carol@bücher.example", "alice@example.org"],
                    "loop1": ["loop2@example.org", "alice@example.org"],
                    "loop2": ["loop1@example.org"],
                    "ghost": ["nobody@example.org"],
                    "outside": ["x@elsewhere.example"],
                },
            },
            "bücher.example": {},
        },
        "accounts": {
            "alice": {"domain": "example.org", "addresses": ["Alice@example.org"]},
            "bob": {"domain": "example.org", "addresses": ["bob@example.org", "b.b@example.org"]},
            "carol": {"domain": "bücher.example", "addresses": ["carol@bücher.example"]},
            "admin": {"domain": "example.org", "addresses": ["admin@example.org"]},
        },
    }
)
TLSRPT = HostTLSRPT(localpart="tlsrpt", account="admin", mailbox="HostTLSRPT")


def resolve(address: str, **kwargs: object) -> Destination | None:
    options: dict[str, object] = {
        "hostname": HOST,
        "host_tlsrpt": TLSRPT,
        "postmaster_account": "admin",
        "postmaster_mailbox": "Postmaster",
    }
    options.update(kwargs)
    return resolve_recipient(DOMAINS, address, **options)  # type: ignore[arg-type]


def test_account_address_case_insensitive_localpart() -> None:
    for given_address in ("alice@example.org", "ALICE@Example.ORG", "Alice@example.org."):
        dest = resolve(given_address)
        assert dest is not None
        assert dest.kind == "account"
        assert dest.accounts == [("alice", "Inbox")]
        assert dest.address == "Alice@example.org"
        assert dest.original == given_address
        assert dest.forward == [] and dest.subaddress is None
    assert resolve("b.b@example.org").accounts == [("bob", "Inbox")]  # type: ignore[union-attr]


def test_idn_domain_matches_u_and_a_labels() -> None:
    for addr in ("carol@bücher.example", "carol@xn--bcher-kva.example", "Carol@BÜCHER.example"):
        dest = resolve(addr)
        assert dest is not None and dest.accounts == [("carol", "Inbox")]


def test_unknown_recipients() -> None:
    assert resolve("nobody@example.org") is None
    assert resolve("alice@elsewhere.example") is None
    assert resolve("alice@[192.0.2.1]") is None
    assert resolve("not an address") is None
    assert resolve("@example.org") is None
    assert resolve("alice@") is None
    assert resolve("ghost@example.org") is None  # alias to nothing deliverable


def test_alias_expands_to_accounts_and_forwards() -> None:
    dest = resolve("Team@example.org")
    assert dest is not None
    assert dest.kind == "alias"
    assert dest.accounts == [("alice", "Inbox"), ("bob", "Inbox")]
    assert dest.forward == ["friend@elsewhere.example"]
    assert dest.address == "team@example.org"


def test_nested_alias_deduplicates() -> None:
    dest = resolve("everyone@example.org")
    assert dest is not None
    assert dest.accounts == [("alice", "Inbox"), ("bob", "Inbox"), ("carol", "Inbox")]
    assert dest.forward == ["friend@elsewhere.example"]


def test_alias_loop_terminates() -> None:
    dest = resolve("loop1@example.org")
    assert dest is not None and dest.accounts == [("alice", "Inbox")]


def test_alias_with_only_external_targets() -> None:
    dest = resolve("outside@example.org")
    assert dest is not None
    assert dest.kind == "alias" and dest.accounts == []
    assert dest.forward == ["x@elsewhere.example"]


def test_postmaster_any_domain_and_hostname() -> None:
    for addr in (
        "postmaster@example.org",
        "PostMaster@bücher.example",
        f"postmaster@{HOST}",
        "Postmaster",
    ):
        dest = resolve(addr)
        assert dest is not None, addr
        assert dest.accounts == [("admin", "Postmaster")]
    assert resolve("postmaster@elsewhere.example") is None
    assert resolve("postmaster@example.org", postmaster_account=None) is None


def test_report_addresses() -> None:
    assert resolve("dmarc-reports@example.org").accounts == [  # type: ignore[union-attr]
        ("admin", "DMARC")
    ]
    assert resolve("TLS-Reports@example.org").accounts == [  # type: ignore[union-attr]
        ("admin", "TLSRPT")
    ]
    assert resolve("dmarc-reports@bücher.example") is None
    dest = resolve(f"tlsrpt@{HOST}")
    assert dest is not None and dest.accounts == [("admin", "HostTLSRPT")]
    assert resolve("tlsrpt@example.org") is None
    assert resolve(f"tlsrpt@{HOST}", host_tlsrpt=None) is None
    assert resolve(f"tlsrpt@{HOST}", host_tlsrpt=HostTLSRPT()) is None


def test_subaddressing() -> None:
    dest = resolve("alice+lists@example.org")
    assert dest is not None
    assert dest.accounts == [("alice", "Inbox")]
    assert dest.subaddress == "lists"
    assert dest.original == "alice+lists@example.org"
    team = resolve("team+x+y@example.org")
    assert team is not None and team.kind == "alias" and team.subaddress == "x+y"
    assert resolve("+alice@example.org") is None
    assert resolve("alice+@example.org") is None
    assert resolve("nobody+x@example.org") is None


def test_exact_address_with_plus_wins() -> None:
    domains = DomainsConfig.model_validate(
        {
            "domains": {"example.org": {}},
            "accounts": {
                "a": {"domain": "example.org", "addresses": ["a@example.org"]},
                "ab": {"domain": "example.org", "addresses": ["a+b@example.org"]},
            },
        }
    )
    dest = resolve_recipient(domains, "a+b@example.org", hostname=HOST)
    assert dest is not None and dest.accounts == [("ab", "Inbox")] and dest.subaddress is None


def test_resolve_for_config(tmp_path: Path) -> None:
    (tmp_path / "postel.toml").write_text(
        f'hostname = "{HOST}"\npostmaster_account = "admin"\npostmaster_mailbox = "PM"\n'
    )
    (tmp_path / "domains.toml").write_text(
        '[domains."example.org"]\n[accounts.admin]\ndomain = "example.org"\n'
        'addresses = ["admin@example.org"]\n'
    )
    cfg = load_config(tmp_path)
    dest = resolve_for_config(cfg, "postmaster@example.org")
    assert dest is not None and dest.accounts == [("admin", "PM")]


@given(st.text(max_size=80))
def test_never_raises(address: str) -> None:
    dest = resolve(address)
    assert dest is None or dest.accounts or dest.forward


@pytest.mark.parametrize("addr", ["alice@example.org", "team@example.org"])
def test_destination_accounts_are_unique(addr: str) -> None:
    dest = resolve(addr)
    assert dest is not None and len(dest.accounts) == len(set(dest.accounts))
