"""The deliverer records each outgoing session (TLS mode, result, DANE,
REQUIRETLS), plaintext fallbacks and MTA-STS lookups (postel.metrics)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_fakes import Env, Script, accept, fail
from prometheus_client.parser import text_string_to_metric_families

from postel.dane import VerifyResult
from postel.delivery import Deliverer, DeliveryRequest
from postel.dns.mock import MockResolver
from postel.metrics import runtime
from postel.metrics.scrape import LiveSources, exposition
from postel.smtpclient import TLSMode
from postel.tlsrpt.report import FailureDetails

RECORDS = {
    ("example.com", "MX"): ["10 mx1.example.com."],
    ("mx1.example.com", "A"): ["192.0.2.1"],
}

Found = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()


def scrape(path: Path) -> Found:
    out: Found = {}
    for family in text_string_to_metric_families(exposition(path, LiveSources()).decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(found: Found, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def deliver(
    env: Env, script: Script, records: dict[tuple[str, str], list[str]] = RECORDS, **kw: object
) -> None:
    d = Deliverer(
        env.cfg,
        MockResolver(dict(records), authentic=records is not RECORDS),
        env.mtastsdb,
        env.store,
        session=script,
        rng=random.Random(0),
    )
    base: dict[str, object] = dict(
        domain="example.com",
        mail_from="alice@sender.example",
        rcpts=["a@example.com"],
        message=env.message(),
        sender_account="alice",
    )
    base.update(kw)
    await d.deliver(DeliveryRequest(**base))  # type: ignore[arg-type]


async def test_plaintext_fallback_and_sessions(env: Env, metrics: Path) -> None:
    tls_fd = FailureDetails("validation-failure", failure_reason_code="tls-remote-alert-40")
    script = Script(
        {
            ("mx1.example.com", "192.0.2.1", TLSMode.OPPORTUNISTIC): fail(
                connected=True, tls_failure=tls_fd, enhanced="4.7.5"
            ),
            ("mx1.example.com", "192.0.2.1", TLSMode.SKIP): accept(),
        }
    )
    await deliver(env, script)
    found = scrape(metrics)
    count = "postel_delivery_duration_seconds_count"
    assert get(found, count, tls_mode="opportunistic", result="temporary") == 1
    assert get(found, count, tls_mode="skip", result="delivered") == 1
    assert get(found, "postel_delivery_plaintext_fallbacks_total") == 1
    # No MTA-STS record in DNS: no policy.
    assert get(found, "postel_mtasts_lookups_total", result="none") == 1


async def test_dane_and_requiretls(env: Env, metrics: Path) -> None:
    # DNSSEC-signed MX, address and TLSA records (RFC 7672): DANE applies.
    signed = {
        **RECORDS,
        ("_25._tcp.mx1.example.com", "TLSA"): ["3 1 1 " + "ab" * 32],
    }
    dane = VerifyResult(False, result_type="tlsa-invalid", detail="no match")
    script = Script({("mx1.example.com", "192.0.2.1"): accept(dane=dane)})
    await deliver(env, script, signed, requiretls=True)
    assert script.calls, "no session"
    found = scrape(metrics)
    assert get(found, "postel_dane_verifications_total", result="tlsa-invalid") == 1
    # TLS, but REQUIRETLS not offered (RFC 8689 §4.2.1).
    assert get(found, "postel_delivery_requiretls_unsupported_total") == 1
