"""Grouping a day's rows into reports (docs/tls-reporting.md, Grouping)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tlsrptsend_data import DAY, record_day

from postel.tlsrpt.report import PolicyType
from postel.tlsrptresultdb import ResultDB, ResultRow
from postel.tlsrptsend.group import Key, has_failures, keys_for_day, select


@pytest.fixture()
def rows(tmp_path: Path) -> list[ResultRow]:
    db = ResultDB.open(tmp_path / "r.db")
    record_day(db)
    out = db.rows(day=DAY)
    db.close()
    return out


def test_keys_recipient_domains_first(rows: list[ResultRow]) -> None:
    keys = keys_for_day(rows, DAY)
    assert [(k.policy_domain, k.is_recipient_domain) for k in keys] == [
        ("a.example", True),
        ("b.example", True),
        ("c.example", True),
        ("mx.c.example", False),
        ("mx.hosting.example", False),
    ]
    assert all(k.send_report for k in keys)


def test_keys_send_report_any_row(rows: list[ResultRow]) -> None:
    for r in rows:
        r.send_report = (
            r.policy_domain == "mx.hosting.example" and r.recipient_domain == "c.example"
        )
    send = {k.policy_domain: k.send_report for k in keys_for_day(rows, DAY)}
    assert send == {
        "a.example": False,
        "b.example": False,
        "c.example": False,
        "mx.c.example": False,
        "mx.hosting.example": True,
    }


def test_keys_other_days_ignored(rows: list[ResultRow]) -> None:
    assert keys_for_day(rows, DAY.replace(day=15)) == []


def test_recipient_domain_report_merges_host_rows_unchanged(rows: list[ResultRow]) -> None:
    sel = select(rows, Key("c.example", DAY, True, True), ["mailto:tls@c.example"])
    assert {r.policy_domain for r in sel.recipient_rows} == {
        "c.example",
        "mx.c.example",
        "mx.hosting.example",
    }
    assert sel.host_rows == []
    got = {
        (str(p.policy.policy_type), p.policy.policy_domain, tuple(p.policy.mx_hosts))
        for p in sel.policies
    }
    assert got == {
        ("no-policy-found", "c.example", ()),
        ("tlsa", "mx.c.example", ()),
        ("tlsa", "mx.hosting.example", ()),
    }


def test_host_report_rewrites_policy_domain(rows: list[ResultRow]) -> None:
    sel = select(rows, Key("mx.hosting.example", DAY, False, True), ["mailto:tls@hosting.example"])
    assert sorted(r.recipient_domain for r in sel.host_rows) == ["a.example", "c.example"]
    by_domain = {p.policy.policy_domain: p for p in sel.policies}
    assert set(by_domain) == {"a.example", "c.example"}
    for pd, p in by_domain.items():
        assert p.policy.policy_type == PolicyType.TLSA
        assert p.policy.mx_hosts == ["mx.hosting.example"]
        assert p.policy.policy_strings == ["3 1 1 " + "ab" * 32], pd
    assert by_domain["a.example"].summary.total_successful_session_count == 5
    assert by_domain["c.example"].summary.total_failure_session_count == 1
    assert by_domain["c.example"].failure_details[0].failure_reason_code == "dane-no-match"
    # The stored rows are not changed by the rewrite.
    assert all(r.results[0].policy.policy_domain == "mx.hosting.example" for r in sel.host_rows)


def _sent(rows: list[ResultRow], recipient_domain: str, addresses: list[str]) -> list[ResultRow]:
    return [
        dataclasses.replace(
            r, sent_to_recipient_domain=True, recipient_domain_reporting_addresses=addresses
        )
        if r.recipient_domain == recipient_domain
        else r
        for r in rows
    ]


def test_host_rows_already_sent_to_same_addresses_skipped(rows: list[ResultRow]) -> None:
    same = ["mailto:tls@hosting.example", "https://r.hosting.example/tlsrpt"]
    rows = _sent(rows, "c.example", list(reversed(same)))
    sel = select(rows, Key("mx.hosting.example", DAY, False, True), same)
    assert [r.recipient_domain for r in sel.host_rows] == ["a.example"]
    assert [r.recipient_domain for r in sel.skipped_rows] == ["c.example"]
    assert [p.policy.policy_domain for p in sel.policies] == ["a.example"]


def test_host_rows_sent_to_other_addresses_kept(rows: list[ResultRow]) -> None:
    rows = _sent(rows, "c.example", ["mailto:tls@c.example"])
    sel = select(rows, Key("mx.hosting.example", DAY, False, True), ["mailto:tls@hosting.example"])
    assert sorted(r.recipient_domain for r in sel.host_rows) == ["a.example", "c.example"]


def test_rows_marked_sent_are_not_reported_again(rows: list[ResultRow]) -> None:
    rows = [
        dataclasses.replace(r, sent_to_policy_domain=True)
        if r.policy_domain == "mx.hosting.example"
        else r
        for r in rows
    ]
    sel = select(rows, Key("mx.hosting.example", DAY, False, True), ["mailto:x@y.example"])
    assert sel.policies == []
    rows = _sent(rows, "a.example", ["mailto:x@y.example"])
    assert select(rows, Key("a.example", DAY, True, True), ["mailto:x@y.example"]).policies == []


def test_has_failures(rows: list[ResultRow]) -> None:
    a = select(rows, Key("a.example", DAY, True, True), [])
    b = select(rows, Key("b.example", DAY, True, True), [])
    assert has_failures(a.policies)
    assert not has_failures(b.policies)
