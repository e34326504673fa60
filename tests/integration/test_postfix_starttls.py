"""Postfix as a real peer delivering to postel over STARTTLS."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from postfixpeer import PostfixPeer
from postfixpeer.postel_env import DOMAIN, HOSTNAME, PostelEnv, running_postel
from storagebackend import Backend

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_log_level")]


async def wait_for(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


async def relay_one(
    postfix_peer: PostfixPeer, env: PostelEnv, tls: str, subject: str, **kw: Any
) -> bytes:
    await asyncio.to_thread(postfix_peer.configure, relay_to=(env.ip, env.port), tls=tls, **kw)
    msg = (
        f"From: sender@peer.test\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@peer.test>\r\n\r\nHello over TLS.\r\n"
    ).encode()
    await asyncio.to_thread(postfix_peer.send, "sender@peer.test", f"alice@{DOMAIN}", msg)
    await asyncio.to_thread(postfix_peer.wait_until_queue_empty, 30)
    await wait_for(lambda: any(m.subject == subject for m in env.messages("Inbox")))
    found = [m for m in env.messages("Inbox") if m.subject == subject]
    return env.message_bytes(found[0])


@pytest.mark.parametrize("tls", ["encrypt", "verify"])
async def test_postfix_delivers_to_postel_over_starttls(
    testnet: Any, postfix_peer: PostfixPeer, tmp_path: Path, tls: str, storage_backend: Backend
) -> None:
    ip = testnet.ip()
    mark = postfix_peer.log_mark()
    async with running_postel(tmp_path, testnet, ip, backend=storage_backend) as env:
        kw = {"tls_match": HOSTNAME} if tls == "verify" else {}
        data = await relay_one(postfix_peer, env, tls, f"starttls-{tls}", **kw)
    msg = message_from_bytes(data)
    received = " ".join(str(h) for h in msg.get_all("Received", []))
    # postel's Received header records the TLS session (RFC 8314 §7 / RFC 3848 ESMTPS).
    assert f"by {HOSTNAME}" in received
    assert "ESMTPS" in received and "TLS" in received
    assert msg["Subject"] == f"starttls-{tls}"
    log = postfix_peer.log_text(mark)
    assert "status=sent" in log
    # Postfix's own view of the session: TLS, and for "verify" a verified peer.
    expect = "Verified TLS connection" if tls == "verify" else "TLS connection established"
    assert expect in log, log[-3000:]


async def test_postfix_encrypt_refuses_plaintext_only_peer(
    testnet: Any, postfix_peer: PostfixPeer, tmp_path: Path
) -> None:
    """Sanity check of the peer itself: with tls=encrypt and a server without STARTTLS,
    Postfix defers instead of sending in clear."""
    ip = testnet.ip()
    server = await asyncio.start_server(_no_starttls, ip, 2525)
    try:
        mark = postfix_peer.log_mark()
        await asyncio.to_thread(postfix_peer.configure, relay_to=(ip, 2525), tls="encrypt")
        await asyncio.to_thread(
            postfix_peer.send, "a@peer.test", "b@x.test", b"Subject: x\r\n\r\nx\r\n"
        )
        await wait_for(lambda: "status=deferred" in postfix_peer.log_text(mark))
        assert "TLS is required, but was not offered" in postfix_peer.log_text(mark)
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.to_thread(postfix_peer.clear_queue)


async def _no_starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 plain.test ESMTP\r\n")
    try:
        while line := await asyncio.wait_for(reader.readline(), 10):
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                writer.write(b"250-plain.test\r\n250 8BITMIME\r\n")
            elif cmd == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
