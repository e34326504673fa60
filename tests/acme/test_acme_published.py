"""Only names whose DNS points at the mail host are ordered (postel.acme.published);
the loop reports the others (ACMEManager.left_out, status.json)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from postel.acme.challenges import Challenges
from postel.acme.client import Settings
from postel.acme.manager import ACMEManager
from postel.acme.published import choose_names, lookup_addresses, names_pointing_here
from postel.acme.status import LoopStatus, describe, view
from postel.acme.storage import CertStore
from postel.dns.errors import TemporaryError
from postel.dns.mock import MockResolver

HOST = "mail.example.org"
STS = "mta-sts.example.org"
AUTO = "autoconfig.example.org"
WANTED = [HOST, STS, AUTO]
HERE = frozenset({"192.0.2.1"})


def test_names_sharing_an_address_with_the_host_are_ordered() -> None:
    addrs = {HOST: HERE, STS: frozenset({"192.0.2.1", "2001:db8::1"}), AUTO: frozenset()}
    assert choose_names(HOST, WANTED, addrs, current=[]) == [HOST, STS]


def test_a_name_pointing_elsewhere_is_left_out() -> None:
    addrs = {HOST: HERE, STS: frozenset({"198.51.100.7"}), AUTO: HERE}
    assert choose_names(HOST, WANTED, addrs, current=[HOST, STS, AUTO]) == [HOST, AUTO]


def test_a_failed_lookup_keeps_the_name_as_the_certificate_has_it() -> None:
    addrs = {HOST: HERE, STS: None, AUTO: None}
    assert choose_names(HOST, WANTED, addrs, current=[HOST, STS]) == [HOST, STS]
    # The host's own lookup failing: nothing is added or dropped either.
    addrs = {HOST: None, STS: HERE, AUTO: HERE}
    assert choose_names(HOST, WANTED, addrs, current=[HOST, AUTO]) == [HOST, AUTO]
    assert choose_names(HOST, WANTED, addrs, current=[]) == [HOST]


async def test_lookups_follow_cnames_and_tell_errors_from_absence() -> None:
    resolver = MockResolver(
        {
            (HOST, "A"): ["192.0.2.1"],
            (HOST, "AAAA"): ["2001:db8::25"],
            (STS, "CNAME"): [f"{HOST}."],
            ("broken.example.org", "A"): TemporaryError("SERVFAIL"),
        }
    )
    assert await lookup_addresses(resolver, STS) == frozenset({"192.0.2.1", "2001:db8::25"})
    assert await lookup_addresses(resolver, AUTO) == frozenset()
    assert await lookup_addresses(resolver, "broken.example.org") is None
    names = await names_pointing_here(resolver, HOST, WANTED, current=[])
    assert names == [HOST, STS]


def manager(tmp_path: Path, reachable: list[str]) -> ACMEManager:
    async def filtered(wanted: list[str], current: frozenset[str]) -> list[str]:
        assert current == frozenset()  # no certificate of a CA yet
        return [n for n in wanted if n in reachable]

    return ACMEManager(
        Settings("https://127.0.0.1:1/dir"),
        CertStore(tmp_path),
        lambda: list(WANTED),
        Challenges(),
        retry_min=1,
        retry_max=2,
        reachable=filtered,
    )


async def test_the_loop_reports_names_left_out_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = manager(tmp_path, [HOST, STS])
    with caplog.at_level(logging.INFO, logger="postel.acme"):
        assert await m._names() == [HOST, STS]
        assert await m._names() == [HOST, STS]
    warned = [r for r in caplog.records if "left out" in r.getMessage()]
    assert len(warned) == 1 and warned[0].__dict__["names"] == AUTO
    status = m.status(60)
    assert status.left_out == [AUTO]
    assert LoopStatus.from_json(status.to_json(), "status.json").left_out == [AUTO]


async def test_acme_status_names_what_is_left_out(tmp_path: Path) -> None:
    m = manager(tmp_path, [HOST])
    await m._names()
    await m._record(60)
    lines = describe(view(CertStore(tmp_path), dt.datetime.now(dt.UTC)))
    assert any(AUTO in line and STS in line and "DNS" in line for line in lines)
