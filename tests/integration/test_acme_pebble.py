"""ACME against Debian's pebble on loopback (postel.acme, postel.tlsreload).

pebble really validates every challenge against postel's listeners on
127.0.0.1 (pebble-challtestsrv resolves every name there); certificates live
20 s so that a renewal happens within the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pebblepeer import IP, Pebble, ari_pebble, free_port

from postel.acme.status import LoopStatus, read_status
from postel.acme.storage import KINDS, CertStore
from postel.config import load_config
from postel.server import Running, run

pytestmark = pytest.mark.integration

HOST = "mail.example.org"  # quickstart: mail.<domain>
NAMES = {HOST, "mta-sts.example.org", "autoconfig.example.org"}

POSTEL_TOML = """\
hostname = "{host}"
postmaster_account = "pm"

[dns]
nameservers = ["127.0.0.1"]
port = {dns_port}
timeout = 1.0

[listeners.main]
ips = ["{ip}"]
smtp = {{ port = {smtp} }}
submission = {{ enabled = false }}
submissions = {{ port = {submissions}, enabled = {with_submissions} }}
web = {{ enabled = {with_web}, port = {web}, mtasts = true, tls = {web_tls} }}

[acme]
enabled = true
directory_url = "{directory}"
ca_file = "{ca}"
contact = "pm@example.org"
challenge = "{challenge}"
http01_port = {http01}
retry_min = 0.5
retry_max = 2.0
{extra}"""

DOMAINS_TOML = """\
[domains."example.org"]

[accounts.pm]
domain = "example.org"
addresses = ["pm@example.org"]
"""


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def names_of(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def _client_context(kind: str) -> ssl.SSLContext:
    """A client offering only *kind*'s signature family (TLS 1.2 cipher suites)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(
        "ECDHE-ECDSA-AES128-GCM-SHA256" if kind == "ecdsa" else "ECDHE-RSA-AES128-GCM-SHA256"
    )
    return ctx


def _smtp_line(f: socket.socket) -> bytes:
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = f.recv(1)
        if not chunk:
            break
        out += chunk
    return out


def _smtp_reply(sock: socket.socket) -> bytes:
    while True:
        line = _smtp_line(sock)
        if line[3:4] != b"-":
            return line


def served(port: int, mode: str, kind: str = "ecdsa") -> x509.Certificate:
    """The leaf certificate postel serves on *port* ("tls", or "starttls" for SMTP)."""
    ctx = _client_context(kind)
    with socket.create_connection((IP, port), timeout=10) as raw:
        if mode == "starttls":
            assert _smtp_reply(raw).startswith(b"220")
            raw.sendall(b"EHLO client.test\r\n")
            _smtp_reply(raw)
            raw.sendall(b"STARTTLS\r\n")
            assert _smtp_reply(raw).startswith(b"220")
        with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return x509.load_der_x509_certificate(der)


async def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def wait_served(ports: list[tuple[int, str]], want: x509.Certificate, kind: str) -> float:
    """Seconds until every port serves *want* to 6 connections in a row (SMTP
    workers share a port: the kernel spreads connections over them)."""
    start = time.monotonic()
    for port, mode in ports:
        deadline = start + 10
        in_a_row = 0
        while True:
            got = await asyncio.to_thread(served, port, mode, kind)
            in_a_row = in_a_row + 1 if got == want else 0
            if in_a_row == 6:
                break
            if got == want:
                continue
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"port {port} ({mode}) still serves serial {got.serial_number}"
                )
            await asyncio.sleep(0.2)
    return time.monotonic() - start


@asynccontextmanager
async def postel(
    root: Path,
    pebble_directory: str,
    ca: Path,
    *,
    dns_port: int,
    challenge: str,
    smtp: int,
    web: int = 0,
    submissions: int = 0,
    http01: int = 0,
    web_tls: bool = True,
    workers: int = 1,
    extra: str = "",
) -> AsyncIterator[Running]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "postel.toml").write_text(
        POSTEL_TOML.format(
            host=HOST,
            dns_port=dns_port,
            ip=IP,
            smtp=smtp,
            submissions=submissions or free_port(),
            with_submissions="true" if submissions else "false",
            web=web or free_port(),
            with_web="true" if web else "false",
            web_tls="true" if web_tls else "false",
            directory=pebble_directory,
            ca=ca,
            challenge=challenge,
            http01=http01,
            extra=extra,
        )
    )
    (root / "domains.toml").write_text(DOMAINS_TOML)
    cfg = load_config(root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=workers)
    )
    try:
        done, _ = await asyncio.wait({server, started}, timeout=30, return_when="FIRST_COMPLETED")
        if server in done:
            server.result()
        yield await started
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


_NO_STATUS = LoopStatus(updated=dt.datetime.now(dt.UTC), directory="")


@pytest.fixture
def pebble_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Pebble]]:
    started: list[Pebble] = []

    def make(**kw: object) -> Pebble:
        p = Pebble(tmp_path / f"pebble{len(started)}", **kw)
        started.append(p)
        return p

    yield make  # type: ignore[misc]
    for p in started:
        p.stop()


async def test_tls_alpn_issue_renew_same_keys_every_listener_reloads(
    tmp_path: Path, pebble_factory: Callable[..., Pebble]
) -> None:
    web, smtp, subs = free_port(), free_port(), free_port()
    pebble = pebble_factory(tls_port=web, http_port=free_port(), validity=20)
    pebble.start()
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="tls-alpn-01",
        smtp=smtp,
        web=web,
        submissions=subs,
        workers=2,
    ) as running:
        store = CertStore(tmp_path / "postel" / "data")
        keys = {k: spki(store.chain(k)[0]) for k in KINDS}  # placeholder, the host keys
        assert running.workers is not None and len(running.workers.pids()) == 2
        # A connection made before any renewal stays usable across them.
        held_r, held_w = await asyncio.open_connection(IP, subs, ssl=_client_context("ecdsa"))
        assert (await held_r.readline()).startswith(b"220")

        acme = running.acme
        await wait_for(lambda: acme.issued >= 1, 60, "the first certificates")
        first = {k: store.chain(k)[0] for k in KINDS}
        for kind, cert in first.items():
            assert cert.issuer != cert.subject, "still the self-signed placeholder"
            assert names_of(cert) == NAMES
            assert spki(cert) == keys[kind]
        ports = [(smtp, "starttls"), (subs, "tls"), (web, "tls")]
        for kind in KINDS:
            await wait_served(ports, first[kind], kind)

        # Each key is renewed when due; on a loaded machine the two first
        # certificates can be seconds apart, and so their renewals.
        await wait_for(
            lambda: all(store.chain(k)[0].serial_number != first[k].serial_number for k in KINDS),
            60,
            "the renewal of both keys",
        )
        second = {k: store.chain(k)[0] for k in KINDS}
        for kind, cert in second.items():
            assert spki(cert) == keys[kind], "renewal changed the host key (TLSA 3 1 1)"
        for kind in KINDS:
            seconds = await wait_served(ports, second[kind], kind)
            assert seconds < 10

        held_w.write(b"NOOP\r\n")
        assert (await asyncio.wait_for(held_r.readline(), 5)).startswith(b"250")
        held_w.close()


@pytest.mark.parametrize("without_dns", [(), ("autoconfig.example.org",)], ids=["all", "one-gone"])
async def test_http01_issue(
    tmp_path: Path, pebble_factory: Callable[..., Pebble], without_dns: tuple[str, ...]
) -> None:
    """Every name validated by http-01; a name whose lookups fail (for pebble
    and postel alike: an autoconfig.<domain> record the operator has not added)
    is left out instead of failing the order, and the loop's status says so."""
    http01, smtp = free_port(), free_port()
    pebble = pebble_factory(tls_port=free_port(), http_port=http01)
    pebble.start()
    for name in without_dns:
        pebble.servfail(name)
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="http-01",
        smtp=smtp,
        http01=http01,
    ) as running:
        await wait_for(lambda: running.acme.issued >= 1, 60, "certificates by http-01")
        assert running.acme.failures == 0
        store = CertStore(tmp_path / "postel" / "data")
        cert = store.chain("ecdsa")[0]
        assert names_of(cert) == NAMES - set(without_dns) and cert.issuer != cert.subject
        await wait_served([(smtp, "starttls")], cert, "ecdsa")
        await wait_for(
            lambda: (read_status(store)[0] or _NO_STATUS).left_out == list(without_dns),
            30,
            "the names left out in data/acme/status.json",
        )


async def test_http01_answered_by_a_plain_web_listener_on_port_80(
    tmp_path: Path, pebble_factory: Callable[..., Pebble]
) -> None:
    """postel's own plain-HTTP web listener holds the http-01 port (80 in
    practice) and answers the tokens; no second responder is started on it."""
    port, smtp = free_port(), free_port()
    pebble = pebble_factory(tls_port=free_port(), http_port=port)
    pebble.start()
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="http-01",
        smtp=smtp,
        web=port,
        web_tls=False,
        http01=port,
    ) as running:
        await wait_for(lambda: running.acme.issued >= 1, 60, "certificates by http-01 on :80")
        cert = CertStore(tmp_path / "postel" / "data").chain("ecdsa")[0]
        assert names_of(cert) == NAMES and cert.issuer != cert.subject
        assert (IP, port, "mtasts") in running.bound  # the web listener holds the port
        # The web listener goes on serving other URLs (postel's web app: its
        # security headers; example.org publishes no MTA-STS policy here).
        reader, writer = await asyncio.open_connection(IP, port)
        writer.write(
            b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.org\r\n"
            b"Connection: close\r\n\r\n"
        )
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 404") and b"referrer-policy: same-origin" in reply
        # An unknown token is not answered.
        reader, writer = await asyncio.open_connection(IP, port)
        writer.write(
            b"GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: mail.example.org\r\n"
            b"Connection: close\r\n\r\n"
        )
        reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert reply.startswith(b"HTTP/1.1 404")


async def test_failing_challenge_is_reported_clearly(
    tmp_path: Path, pebble_factory: Callable[..., Pebble], caplog: pytest.LogCaptureFixture
) -> None:
    # pebble validates http-01 on a port where nothing answers (postel's
    # responder is on another one).
    pebble = pebble_factory(tls_port=free_port(), http_port=free_port())
    pebble.start()
    caplog.set_level(logging.INFO, logger="postel.acme")
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="http-01",
        smtp=free_port(),
        http01=free_port(),
    ) as running:
        await wait_for(lambda: running.acme.failures >= 1, 60, "the failed order")
        err = running.acme.last_error
        assert running.acme.issued == 0
        # The loop's status file, read by `acme status` and the admin, says so too.
        store = CertStore(tmp_path / "postel" / "data")
        await wait_for(
            lambda: (read_status(store)[0] or _NO_STATUS).last_error is not None,
            30,
            "the failed order in data/acme/status.json",
        )
        recorded = read_status(store)[0]
        assert recorded is not None and recorded.failures >= 1
        assert recorded.directory == pebble.directory and recorded.next_look is not None
    assert err is not None and "\n" not in err
    assert pebble.directory in err
    assert "challenge http-01 for " in err and " failed: " in err
    assert any(n in err for n in NAMES)
    failed = [
        r for r in caplog.records if r.getMessage() == "certificate order failed, retrying later"
    ]
    assert failed and failed[0].temporary is False  # type: ignore[attr-defined]


async def test_temporary_ca_errors_are_retried_with_backoff(
    tmp_path: Path, pebble_factory: Callable[..., Pebble], caplog: pytest.LogCaptureFixture
) -> None:
    web = free_port()
    pebble = pebble_factory(tls_port=web, http_port=free_port())  # not started yet
    caplog.set_level(logging.INFO, logger="postel.acme")
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="tls-alpn-01",
        smtp=free_port(),
        web=web,
    ) as running:
        await wait_for(lambda: running.acme.failures >= 3, 30, "three failed attempts")
        assert "cannot reach the CA" in (running.acme.last_error or "")
        pebble.start()
        await wait_for(lambda: running.acme.issued >= 1, 60, "certificates once the CA is up")
        assert running.acme.failures == 0
    waits = [
        r.retry_in  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "certificate order failed, retrying later"
    ]
    assert all(r.temporary for r in caplog.records if hasattr(r, "temporary"))  # type: ignore[attr-defined]
    # Doubling from retry_min 0.5 s, jittered to 75-100%, capped at retry_max 2 s.
    assert 0.375 <= waits[0] <= 0.5 and 0.75 <= waits[1] <= 1.0 and 1.5 <= waits[2] <= 2.0


async def test_fresh_quickstart_with_acme_gets_certificates_without_restart(
    tmp_path: Path, pebble_factory: Callable[..., Pebble]
) -> None:
    from postel.quickstart import quickstart

    web, smtp, sub, subs, internal = (free_port() for _ in range(5))
    pebble = pebble_factory(tls_port=web, http_port=free_port())
    pebble.start()
    conf = tmp_path / "config"
    quickstart(conf, "you@example.org", ips=[IP], acme_directory=pebble.directory)
    text = (conf / "postel.toml").read_text()
    for old, new in [
        ("port = 25 ", f"port = {smtp} "),
        ("port = 587 ", f"port = {sub} "),
        ("port = 465 ", f"port = {subs} "),
        ("port = 443,", f"port = {web},"),
        ("port = 8080,", f"port = {internal},"),
        ('ips = ["127.0.0.1", "::1"]', f'ips = ["{IP}"]'),
        ("nameservers = []", f'nameservers = ["{IP}"]\nport = {pebble.dns_port}\ntimeout = 1.0'),
        ('challenge = "tls-alpn-01"', f'challenge = "tls-alpn-01"\nca_file = "{pebble.ca_file}"'),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    (conf / "postel.toml").write_text(text)
    cfg = load_config(conf)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=1)
    )
    try:
        running = await asyncio.wait_for(started, 30)
        await wait_for(lambda: running.acme.issued >= 1, 60, "certificates for the quickstart")
        store = CertStore(cfg.datadir.root)
        for kind in KINDS:
            leaf = store.chain(kind)[0]
            assert leaf.issuer != leaf.subject
            assert names_of(leaf) == NAMES
            ports = [(smtp, "starttls"), (sub, "starttls"), (subs, "tls"), (web, "tls")]
            await wait_served(ports, leaf, kind)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


EAB_KID = "kid-postel"
EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


async def test_external_account_binding(
    tmp_path: Path, pebble_factory: Callable[..., Pebble]
) -> None:
    web = free_port()
    pebble = pebble_factory(tls_port=web, http_port=free_port(), eab={EAB_KID: EAB_KEY})
    pebble.start()
    # Without a binding: one clear line, retried.
    async with postel(
        tmp_path / "without",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="tls-alpn-01",
        smtp=free_port(),
        web=web,
    ) as running:
        await wait_for(lambda: running.acme.failures >= 1, 30, "the refused account")
        assert "requires an external account binding" in (running.acme.last_error or "")
    root = tmp_path / "with"
    root.mkdir()
    (root / "eab.key").write_text(EAB_KEY + "\n")
    async with postel(
        root,
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="tls-alpn-01",
        smtp=free_port(),
        web=web,
        extra=f'eab_kid = "{EAB_KID}"\neab_hmac_key_file = "eab.key"\n',
    ) as running:
        await wait_for(lambda: running.acme.issued >= 1, 60, "certificates with EAB")


def _renewal_window(pebble: Pebble, cert: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    """The CA's suggested window, asked directly (RFC 9773 §4.1, §4.2)."""
    import base64
    import json
    import urllib.request

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    ctx = ssl.create_default_context(cafile=str(pebble.ca_file))
    with urllib.request.urlopen(pebble.directory, context=ctx, timeout=10) as r:
        base = json.load(r)["renewalInfo"]
    url = f"{base}/{b64(aki.key_identifier)}.{b64(serial)}"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        window = json.load(r)["suggestedWindow"]
    return (
        dt.datetime.fromisoformat(window["start"].replace("Z", "+00:00")),
        dt.datetime.fromisoformat(window["end"].replace("Z", "+00:00")),
    )


async def test_renewal_time_is_in_the_window_pebble_suggests(
    tmp_path: Path, pebble_factory: Callable[..., Pebble]
) -> None:
    """ARI (RFC 9773) against a real CA: the renewal planned for each host key
    lies in the window pebble's renewalInfo suggests for its certificate, not at
    two thirds of the lifetime."""
    web = free_port()
    pebble = pebble_factory(tls_port=web, http_port=free_port(), validity=3600, binary=ari_pebble())
    pebble.start()
    async with postel(
        tmp_path / "postel",
        pebble.directory,
        pebble.ca_file,
        dns_port=pebble.dns_port,
        challenge="tls-alpn-01",
        smtp=free_port(),
        web=web,
    ) as running:
        acme = running.acme
        await wait_for(lambda: acme.issued >= 1, 60, "the first certificates")
        store = CertStore(tmp_path / "postel" / "data")
        # The look after the issuance plans the renewals (and writes status.json).
        await wait_for(
            lambda: all(
                k in acme.renew_at and acme.renew_at[k] > store.chain(k)[0].not_valid_before_utc
                for k in KINDS
            ),
            30,
            "the renewal plan of the new certificates",
        )
        for kind in KINDS:
            cert = store.chain(kind)[0]
            start, end = _renewal_window(pebble, cert)
            born, dies = cert.not_valid_before_utc, cert.not_valid_after_utc
            when = acme.renew_at[kind]
            assert start <= when <= end, "not in the window the CA suggests"
            # pebble's window is two days wide around 2/3 of a one-hour life:
            # postel keeps the renewal inside the certificate's life, neither
            # at once (a renewal storm) nor after the expiry.
            assert start < born and end > dies
            life = dies - born
            assert born + life * 0.1 <= when <= dies - life * 0.1
