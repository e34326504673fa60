"""A certificate the admin replaces is served to new SMTP connections within
seconds, without a restart, and connections already open keep working
(postel.tlsreload)."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import time
from pathlib import Path

import trustme
from smtpserver_env import HOSTNAME, Env, run


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def served_submissions(env: Env) -> bytes:
    with smtplib.SMTP_SSL("127.0.0.1", env.ports["submissions"], context=_ctx(), timeout=10) as s:
        der = s.sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def served_starttls(env: Env) -> bytes:
    with env.smtp() as s:
        s.starttls(context=_ctx())
        der = s.sock.getpeercert(binary_form=True)
    assert der is not None
    return der


async def test_replaced_certificate_served_without_restart(env: Env) -> None:
    old = await run(lambda: served_submissions(env))
    held = await run(
        lambda: smtplib.SMTP_SSL(
            "127.0.0.1", env.ports["submissions"], context=_ctx(), timeout=10, local_hostname="held"
        )
    )
    await run(held.ehlo)
    try:
        new_ca = trustme.CA()
        leaf = new_ca.issue_cert(HOSTNAME)
        replace(env.cfg.dir / "key.pem", leaf.private_key_pem.bytes())
        replace(env.cfg.dir / "cert.pem", leaf.cert_chain_pems[0].bytes())
        want = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
        assert want != old
        start = time.monotonic()
        while True:
            got = (
                await run(lambda: served_submissions(env)),
                await run(lambda: served_starttls(env)),
            )
            if got == (want, want):
                break
            assert time.monotonic() - start < 10, "the new certificate is not served"
            await asyncio.sleep(0.2)
        # The connection made before the reload still works.
        code, _ = await run(held.noop)
        assert code == 250
    finally:
        await run(held.close)


async def test_broken_replacement_keeps_the_old_certificate(env: Env) -> None:
    old = await run(lambda: served_submissions(env))
    (env.cfg.dir / "cert.pem").write_text("not a certificate\n")
    reloading = env.service.tls_contexts["local"]
    assert reloading.check() is False
    assert await run(lambda: served_submissions(env)) == old
