"""Connection reuse (smtpclient.scache) against the scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from smtpclient_fake import MX, PKI, FakeSMTP, Script

from postel.dane import tlsa_for
from postel.smtpclient import SessionResult, TLSMode, TLSPolicy, deliver_session
from postel.smtpclient.scache import SessionCache

Server = Callable[[Script], FakeSMTP]
MakePolicy = Callable[..., TLSPolicy]


async def send(
    srv: FakeSMTP, tls: TLSPolicy, message: Path, cache: SessionCache | None, **kw: Any
) -> SessionResult:
    args: dict[str, Any] = {
        "host": MX,
        "ip": "127.0.0.1",
        "port": srv.port,
        "tls": tls,
        "ehlo_name": "client.sender.example",
        "mail_from": "a@sender.example",
        "rcpts": ["b@example.org"],
        "message": message,
        "requiretls": False,
        "smtputf8": False,
        "eightbit": False,
        "connect_timeout": 5.0,
        "command_timeout": 5.0,
        "cache": cache,
    }
    args.update(kw)
    return await deliver_session(**args)


def verbs(srv: FakeSMTP) -> list[str]:
    return [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in srv.seen.commands]


def tls_script(pki: PKI) -> tuple[Script, trustme.LeafCert]:
    ctx, leaf = pki.server_context()
    return Script(tls_context=ctx), leaf


async def test_messages_to_one_host_share_one_connection(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    script, _ = tls_script(pki)
    srv = server(script)
    cache = SessionCache(idle_time=5)
    results = [await send(srv, make_policy(), message, cache) for _ in range(3)]
    assert [r.delivered for r in results] == [["b@example.org"]] * 3
    assert [r.reused for r in results] == [False, True, True]
    # The reused sessions report the connection's TLS state.
    assert all(r.tls and r.tls_success and r.receiving_mx_helo == MX for r in results)
    assert srv.seen.connections == 1
    assert len(srv.seen.data) == 3
    assert verbs(srv).count("RSET") == 2
    assert verbs(srv).count("STARTTLS") == 1
    await cache.aclose()
    await asyncio.sleep(0.1)
    assert verbs(srv)[-1] == "QUIT"


async def test_no_cache_means_one_connection_per_message(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"]))
    for _ in range(2):
        await send(srv, make_policy(TLSMode.SKIP), message, None)
    assert srv.seen.connections == 2
    assert "RSET" not in verbs(srv)


async def test_dane_message_never_reuses_an_opportunistic_connection(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    script, leaf = tls_script(pki)
    srv = server(script)
    cache = SessionCache(idle_time=5)
    first = await send(srv, make_policy(), message, cache)
    assert first.delivered and not first.reused
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    dane = make_policy(TLSMode.STARTTLS_REQUIRED, dane_records=[tlsa_for(cert)], verify_dane=True)
    second = await send(srv, dane, message, cache)
    assert second.delivered and not second.reused
    assert second.dane is not None and second.dane.matched
    assert srv.seen.connections == 2
    # Each policy has its own idle connection now; a third DANE message reuses its own.
    third = await send(srv, dane, message, cache)
    assert third.reused and srv.seen.connections == 2
    await cache.aclose()


async def test_pkix_required_and_requiretls_are_separate_keys(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    script, _ = tls_script(pki)
    script.tls_extensions = ["8BITMIME", "REQUIRETLS"]
    srv = server(script)
    cache = SessionCache(idle_time=5)
    await send(srv, make_policy(), message, cache)
    pkix = make_policy(TLSMode.STARTTLS_REQUIRED, verify_pkix=True)
    r2 = await send(srv, pkix, message, cache)
    r3 = await send(srv, pkix, message, cache, requiretls=True)
    assert r2.delivered and r3.delivered
    assert not r2.reused and not r3.reused
    assert srv.seen.connections == 3
    await cache.aclose()


async def test_dropped_idle_connection_is_replaced_without_loss(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"], close_after_data=True))
    cache = SessionCache(idle_time=5)
    first = await send(srv, make_policy(TLSMode.SKIP), message, cache)
    assert first.delivered
    await asyncio.sleep(0.2)  # the server has closed the idle connection
    second = await send(srv, make_policy(TLSMode.SKIP), message, cache)
    assert second.delivered and second.error is None and not second.reused
    assert srv.seen.connections == 2
    assert len(srv.seen.data) == 2  # each message once
    await cache.aclose()


async def test_refused_rset_falls_back_to_a_new_connection(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"], rset_reply=["421 4.3.2 going down"]))
    cache = SessionCache(idle_time=5)
    await send(srv, make_policy(TLSMode.SKIP), message, cache)
    second = await send(srv, make_policy(TLSMode.SKIP), message, cache)
    assert second.delivered and not second.reused
    assert srv.seen.connections == 2
    assert verbs(srv).count("MAIL") == 2 and len(srv.seen.data) == 2
    await cache.aclose()


async def test_idle_time_and_message_limit(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"]))
    cache = SessionCache(idle_time=0.1, max_messages=2)
    plain = make_policy(TLSMode.SKIP)
    await send(srv, plain, message, cache)
    await asyncio.sleep(0.4)  # idle longer than idle_time: QUIT by the cache
    assert len(cache) == 0 and verbs(srv)[-1] == "QUIT"
    results = [await send(srv, plain, message, cache) for _ in range(3)]
    # connection 2 carries two messages (the limit), connection 3 the third
    assert [r.reused for r in results] == [False, True, False]
    assert srv.seen.connections == 3
    await cache.aclose()


async def test_failed_transaction_does_not_cache(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"], data_reply=["451 4.3.0 try later"]))
    cache = SessionCache(idle_time=5)
    r = await send(srv, make_policy(TLSMode.SKIP), message, cache)
    assert not r.delivered
    assert len(cache) == 0
    assert verbs(srv)[-1] == "QUIT"


async def test_close_at_shutdown_logs_no_error(
    server: Server, make_policy: MakePolicy, message: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srv = server(Script(extensions=["8BITMIME"]))
    cache = SessionCache(idle_time=30)
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            await send(srv, make_policy(TLSMode.SKIP), message, cache, rcpts=["c@example.org"])
        assert len(cache) == 1
        await cache.aclose()
    assert len(cache) == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    await asyncio.sleep(0.1)
    assert verbs(srv)[-1] == "QUIT"


async def test_silent_cached_connection_is_replaced_after_the_rset_timeout(
    server: Server, make_policy: MakePolicy, message: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached connection whose server stops answering (RSET unanswered) is
    given up after RSET_TIMEOUT, and the message goes over a new connection."""
    from postel.smtpclient import session

    monkeypatch.setattr(session, "RSET_TIMEOUT", 0.5)
    srv = server(Script(extensions=["8BITMIME"], hang_on="RSET"))
    cache = SessionCache(idle_time=30)
    plain = make_policy(TLSMode.SKIP)
    await send(srv, plain, message, cache)
    r = await send(srv, plain, message, cache, command_timeout=30.0)
    assert r.delivered and not r.reused
    assert srv.seen.connections == 2 and len(srv.seen.data) == 2
    await cache.aclose()
