"""Deliverer with a MockResolver and a scripted SMTP session."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from delivery_fakes import Env, Recorded, Script, accept, fail, make_config, rcpt_replies

from postel.delivery import Deliverer, DeliveryRequest
from postel.delivery.localonly import LOCALSERVE_MAILBOX
from postel.dns import Answer
from postel.dns.mock import MockResolver
from postel.mtastsdb import MTASTSDB
from postel.smtpclient import TLSMode
from postel.store import Store
from postel.tlsrpt.report import FailureDetails, PolicyType

RECORDS = {
    ("example.com", "MX"): ["10 mx1.example.com.", "20 mx2.example.com."],
    ("mx1.example.com", "A"): ["192.0.2.1", "192.0.2.11"],
    ("mx2.example.com", "A"): ["192.0.2.2"],
}


def deliverer(env: Env, script: Script, resolver: MockResolver | None = None) -> Recorded:
    return Recorded(
        Deliverer(
            env.cfg,
            resolver or MockResolver(dict(RECORDS), authentic=False),
            env.mtastsdb,
            env.store,
            session=script,
            rng=random.Random(0),
        ),
        env.resultdb,
        env.store,
    )


def req(env: Env, **kw: object) -> DeliveryRequest:
    base: dict[str, object] = dict(
        domain="example.com",
        mail_from="alice@sender.example",
        rcpts=["a@example.com", "b@example.com"],
        message=env.message(),
        sender_account="alice",
    )
    base.update(kw)
    return DeliveryRequest(**base)  # type: ignore[arg-type]


async def test_first_host_accepts(env: Env) -> None:
    script = Script({("mx1.example.com", "192.0.2.1"): accept()})
    out = await deliverer(env, script).deliver(req(env))
    assert [(o.rcpt, o.status, o.code, o.remote_mta) for o in out] == [
        ("a@example.com", "delivered", 250, "mx1.example.com"),
        ("b@example.com", "delivered", 250, "mx1.example.com"),
    ]
    assert len(script.calls) == 1
    call = script.calls[0]
    assert call["port"] == 2525 and call["ehlo_name"] == "mail.sender.example"
    assert call["tls"].mode == TLSMode.OPPORTUNISTIC
    sec = env.store.account("alice").domain_security("example.com")
    assert sec.starttls is True and sec.requiretls is False
    rows = env.resultdb.rows()
    assert [(r.policy_domain, r.is_host) for r in rows] == [
        ("example.com", False),
        ("mx1.example.com", True),
    ]
    assert rows[0].results[0].policy.policy_type == PolicyType.NO_POLICY_FOUND
    assert rows[0].results[0].summary.total_successful_session_count == 1


async def test_next_ip_then_next_host(env: Env) -> None:
    script = Script({("mx2.example.com", "192.0.2.2"): accept()})
    out = await deliverer(env, script).deliver(req(env))
    assert all(o.status == "delivered" and o.remote_mta == "mx2.example.com" for o in out)
    assert [c["ip"] for c in script.calls] == ["192.0.2.1", "192.0.2.11", "192.0.2.2"]


async def test_all_fail_temporary(env: Env) -> None:
    out = await deliverer(env, Script({})).deliver(req(env))
    assert all(o.status == "temporary" for o in out)


async def test_rcpt_level_results(env: Env) -> None:
    script = Script(
        {
            ("mx1.example.com", "192.0.2.1"): rcpt_replies(
                {"a@example.com": 250, "b@example.com": 550}
            )
        }
    )
    out = await deliverer(env, script).deliver(req(env))
    assert [(o.status, o.code) for o in out] == [("delivered", 250), ("permanent", 550)]
    assert len(script.calls) == 1


async def test_rcpt_temporary_tries_next_host(env: Env) -> None:
    script = Script(
        {
            ("mx1.example.com", "192.0.2.1"): rcpt_replies(
                {"a@example.com": 250, "b@example.com": 451}
            ),
            ("mx2.example.com", "192.0.2.2"): accept(),
        }
    )
    out = await deliverer(env, script).deliver(req(env))
    assert [(o.status, o.remote_mta) for o in out] == [
        ("delivered", "mx1.example.com"),
        ("delivered", "mx2.example.com"),
    ]
    assert script.calls[-1]["rcpts"] == ["b@example.com"]


async def test_permanent_session_error_stops(env: Env) -> None:
    script = Script(
        {("mx1.example.com", "192.0.2.1"): fail(code=550, enhanced="5.7.1", connected=True)}
    )
    out = await deliverer(env, script).deliver(req(env))
    assert all(o.status == "permanent" and o.code == 550 for o in out)
    assert len(script.calls) == 1


async def test_plaintext_retry_after_tls_failure(env: Env) -> None:
    tls_fd = FailureDetails("validation-failure", failure_reason_code="tls-remote-alert-40")
    script = Script(
        {
            ("mx1.example.com", "192.0.2.1", TLSMode.OPPORTUNISTIC): fail(
                connected=True, tls_failure=tls_fd, enhanced="4.7.5"
            ),
            ("mx1.example.com", "192.0.2.1", TLSMode.SKIP): accept(),
        }
    )
    out = await deliverer(env, script).deliver(req(env))
    assert all(o.status == "delivered" for o in out)
    assert [c["tls"].mode for c in script.calls] == [TLSMode.OPPORTUNISTIC, TLSMode.SKIP]
    dom = env.resultdb.rows(policy_domain="example.com")[0].results[0]
    assert dom.summary.total_failure_session_count == 1
    assert dom.summary.total_successful_session_count == 0
    sec = env.store.account("alice").domain_security("example.com")
    assert sec.starttls is False


async def test_enforce_mismatch_skips_host(env: Env) -> None:
    records = dict(RECORDS)
    records[("_mta-sts.example.com", "TXT")] = ['"v=STSv1; id=1"']
    res = MockResolver(records, authentic=False)
    policy = "version: STSv1\nmode: enforce\nmx: mx2.example.com\nmax_age: 86400\n"

    async def fetch(resolver: object, domain: str) -> object:
        from postel.mtasts.fetch import FetchResult
        from postel.mtasts.policy import parse_policy

        return FetchResult("https://x/", "192.0.2.9", parse_policy(policy), policy)

    await env.mtastsdb.get(res, "example.com", fetch=fetch)  # type: ignore[arg-type]
    script = Script({("mx2.example.com", "192.0.2.2"): accept()})
    out = await deliverer(env, script, res).deliver(req(env))
    assert all(o.remote_mta == "mx2.example.com" for o in out)
    assert [c["host"] for c in script.calls] == ["mx2.example.com"]
    assert script.calls[0]["tls"].mode == TLSMode.STARTTLS_REQUIRED
    assert script.calls[0]["tls"].verify_pkix
    dom = env.resultdb.rows(policy_domain="example.com")[0].results[0]
    assert dom.policy.policy_type == PolicyType.STS
    assert dom.summary.total_failure_session_count == 1
    assert dom.summary.total_successful_session_count == 1
    assert dom.failure_details[0].failure_reason_code == "mtasts-policy-mx-mismatch"


async def test_null_mx_permanent(env: Env) -> None:
    res = MockResolver({("example.com", "MX"): ["0 ."]})
    out = await deliverer(env, Script({}), res).deliver(req(env))
    assert all((o.status, o.enhanced) == ("permanent", "5.1.10") for o in out)


async def test_requiretls_without_policy_permanent_5_7_30(env: Env) -> None:
    script = Script({("mx1.example.com", "192.0.2.1"): accept()})
    out = await deliverer(env, script).deliver(req(env, requiretls=True))
    assert all((o.status, o.enhanced) == ("permanent", "5.7.30") for o in out)
    assert script.calls == []


async def test_no_report_rows_when_disabled(tmp_path: Path) -> None:
    from postel.tlsrptresultdb import ResultDB

    cfg = make_config(tmp_path, extra="[reports]\nno_outgoing_tls_reports = true\n")
    store = Store(cfg.datadir)
    mdb = MTASTSDB.open(cfg.datadir.mtasts_db)
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    try:
        env = Env(cfg, store, mdb, rdb, tmp_path)
        script = Script({("mx1.example.com", "192.0.2.1"): accept()})
        out = await deliverer(env, script).deliver(req(env))
        assert out[0].status == "delivered" and rdb.rows() == []
    finally:
        rdb.close()
        mdb.close()
        store.close()


async def test_tlsrpt_message_send_report_false(env: Env) -> None:
    script = Script({("mx1.example.com", "192.0.2.1"): accept()})
    await deliverer(env, script).deliver(req(env, is_tlsrpt=True))
    assert env.resultdb.rows() and not any(r.send_report for r in env.resultdb.rows())


async def test_ip_literal(env: Env) -> None:
    script = Script({("192.0.2.7", "192.0.2.7"): accept()})
    out = await deliverer(env, script).deliver(
        req(env, domain="[192.0.2.7]", rcpts=["x@[192.0.2.7]"])
    )
    assert out[0].status == "delivered" and env.resultdb.rows() == []


async def test_local_only(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, local_only=True)
    store = Store(cfg.datadir)
    try:
        msg = tmp_path / "m.eml"
        msg.write_bytes(b"Subject: local\r\n\r\nbody\r\n")
        d = Deliverer(cfg, MockResolver({}), None, store, session=Script({}))
        out = await d.deliver(
            DeliveryRequest(
                domain="example.com",
                mail_from="alice@sender.example",
                rcpts=["bob@sender.example", "x@example.com", "y@example.com"],
                message=msg,
                sender_account="alice",
            )
        )
        assert [o.status for o in out.recipients] == ["delivered"] * 3
        assert len(store.account("bob").list_messages("Inbox")) == 1
        assert len(store.account("alice").list_messages(LOCALSERVE_MAILBOX)) == 1
    finally:
        store.close()


async def test_unchanged_domain_security_is_not_written_per_message(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write of the sender's STARTTLS finding for many messages that see the
    same; a changed finding is written at once."""
    script = Script({("mx1.example.com", "192.0.2.1"): accept()})
    d = deliverer(env, script)
    acc = env.store.account("alice")
    writes: list[tuple[str, bool | None, bool | None]] = []
    real = acc.remember_domain_securities

    def counting(findings: Iterable[tuple[str, bool | None, bool | None]]) -> None:
        findings = list(findings)
        writes.extend(findings)
        real(findings)

    monkeypatch.setattr(acc, "remember_domain_securities", counting)
    monkeypatch.setattr(env.store, "account", lambda name: acc)
    for _ in range(5):
        out = await d.deliver(req(env))
        assert all(o.status == "delivered" for o in out)
    assert writes == [("example.com", True, False)]
    script.behaviours[("mx1.example.com", "192.0.2.1")] = accept(requiretls_offered=True)
    await d.deliver(req(env))
    assert writes[-1] == ("example.com", True, True)
    assert acc.domain_security("example.com").requiretls is True


async def test_mtasts_policy_and_next_hops_are_asked_at_once(env: Env) -> None:
    """The MTA-STS TXT record and the MX go out together, before the host's
    addresses: set-up costs fewer round trips; no CNAME lookups for names
    whose answers show none."""
    seen: list[tuple[str, str, int]] = []

    class Watching(MockResolver):
        running = 0

        async def lookup(self, name: str, rdtype: str) -> Answer:
            self.running += 1
            seen.append((name, rdtype, self.running))
            try:
                await asyncio.sleep(0.02)
                return await super().lookup(name, rdtype)
            finally:
                self.running -= 1

    script = Script({("mx1.example.com", "192.0.2.1"): accept()})
    d = deliverer(env, script, Watching(dict(RECORDS), authentic=False))
    out = await d.deliver(req(env))
    assert all(o.status == "delivered" for o in out)
    first = {(n.rstrip("."), t) for n, t, _ in seen[:2]}
    assert first == {("_mta-sts.example.com", "TXT"), ("example.com", "MX")}
    assert seen[1][2] == 2  # both in flight together
    assert not [q for q in seen if q[1] == "CNAME"]
