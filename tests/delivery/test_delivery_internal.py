"""Delivery never connects to internal addresses the config does not allow
(postel.netpolicy). The tests' config allows 192.0.2.0/24 only."""

from __future__ import annotations

import random

from delivery_fakes import Env, Recorded, Script, accept

from postel.delivery import Deliverer, DeliveryRequest
from postel.dns.mock import MockResolver

RECORDS = {
    ("example.com", "MX"): ["10 mx1.example.com.", "20 mx2.example.com."],
    ("mx1.example.com", "A"): ["127.0.0.9", "10.0.0.25"],
    ("mx1.example.com", "AAAA"): ["::1"],
    ("mx2.example.com", "A"): ["169.254.169.254"],
    ("mixed.example", "MX"): ["10 mx.mixed.example."],
    ("mx.mixed.example", "A"): ["127.0.0.1", "192.0.2.5"],
    ("mx.mixed.example", "AAAA"): ["::ffff:10.0.0.1"],
}


def deliverer(env: Env, script: Script) -> Recorded:
    return Recorded(
        Deliverer(
            env.cfg,
            MockResolver(dict(RECORDS), authentic=False),
            env.mtastsdb,
            env.store,
            session=script,
            rng=random.Random(0),
        ),
        env.resultdb,
        env.store,
    )


def req(env: Env, domain: str, rcpt: str) -> DeliveryRequest:
    return DeliveryRequest(
        domain=domain,
        mail_from="alice@sender.example",
        rcpts=[rcpt],
        message=env.message(),
        sender_account="alice",
    )


async def test_mx_hosts_with_only_internal_addresses_fail_permanently(env: Env) -> None:
    script = Script({})
    out = await deliverer(env, script).deliver(req(env, "example.com", "a@example.com"))
    assert script.calls == []  # no connection to any of them
    [o] = out
    assert (o.status, o.code, o.enhanced) == ("permanent", 550, "5.4.4")
    assert o.remote_mta == "mx2.example.com"
    assert o.message == (
        "mx2.example.com resolves only to internal addresses "
        "(169.254.169.254 is a link-local address), not delivered to"
    )


async def test_internal_addresses_of_a_host_are_skipped(env: Env) -> None:
    script = Script({("mx.mixed.example", "192.0.2.5"): accept()})
    out = await deliverer(env, script).deliver(req(env, "mixed.example", "a@mixed.example"))
    assert [c["ip"] for c in script.calls] == ["192.0.2.5"]
    assert out[0].status == "delivered"


async def test_internal_address_literal_refused(env: Env) -> None:
    script = Script({})
    out = await deliverer(env, script).deliver(req(env, "[127.0.0.1]", "x@[127.0.0.1]"))
    assert script.calls == []
    [o] = out
    assert (o.status, o.code, o.enhanced) == ("permanent", 550, "5.4.4")
    assert o.message == "127.0.0.1 is a loopback address, not delivered to"
    v6 = await deliverer(env, script).deliver(req(env, "[IPv6:::1]", "x@[IPv6:::1]"))
    assert script.calls == [] and v6[0].status == "permanent"


async def test_allowed_internal_network_is_used(env: Env) -> None:
    env.cfg.static.delivery.allowed_internal_networks = ["127.0.0.0/8"]
    script = Script({("mx1.example.com", "127.0.0.9"): accept()})
    out = await deliverer(env, script).deliver(req(env, "example.com", "a@example.com"))
    assert [c["ip"] for c in script.calls] == ["127.0.0.9"]
    assert out[0].status == "delivered"
