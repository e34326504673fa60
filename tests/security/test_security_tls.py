"""Standard 2, TLS 1.2 or newer everywhere: the SMTP server (STARTTLS on 25 and 587,
implicit TLS on 465), the web listener's HTTPS, the SMTP client, the MTA-STS
policy fetch, the TLSRPT HTTPS POST and the DNS check's STARTTLS probe.

Servers are tried with a client forced to TLS 1.1 (at OpenSSL security level 0,
so that it really offers TLS 1.1); clients are tried against a server that only
speaks TLS 1.1. A first test shows that such a handshake works at all here, so
that a refusal means the context refused it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trustme
from security_env import Env, make_config, run

from postel.dns.mock import MockResolver
from postel.dnscheck import CheckOptions
from postel.dnscheck.gather import verify_context
from postel.mtasts.fetch import make_ssl_context
from postel.smtpclient.session import client_context
from postel.smtpserver.tls import server_context
from postel.store.store import Store
from postel.web import start_web

TLS12 = ssl.TLSVersion.TLSv1_2


def _force_tls11(ctx: ssl.SSLContext) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def tls11_client() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return _force_tls11(ctx)


@contextlib.contextmanager
def tls11_server(ca: trustme.CA, host: str = "localhost") -> Iterator[tuple[int, list[str]]]:
    """A TLS-1.1-only server on 127.0.0.1 (one thread per connection); yields its
    port and the list of handshake outcomes ("TLSv1.1" or "error: ...")."""
    ctx = _force_tls11(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ca.issue_cert(host, "127.0.0.1").configure_cert(ctx)
    outcomes: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    outcomes.append(str(tls.version()))
            except (OSError, ssl.SSLError) as exc:
                outcomes.append(f"error: {exc}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcomes
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def handshake(port: int, ctx: ssl.SSLContext, host: str = "localhost") -> str:
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return str(tls.version())
        except (OSError, ssl.SSLError) as exc:
            return f"error: {exc}"


def test_tls11_handshakes_are_possible_here() -> None:
    """Without this the refusals below would prove nothing."""
    with tls11_server(trustme.CA()) as (port, outcomes):
        assert handshake(port, tls11_client()) == "TLSv1.1"
    assert outcomes == ["TLSv1.1"]


# -- the contexts --------------------------------------------------------------------


def _contexts(tmp_path: Path) -> dict[str, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("mail.example.org")
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    return {
        "smtp server": server_context(tmp_path / "c.pem", tmp_path / "k.pem"),
        "smtp client": client_context(),
        "mta-sts fetch / tlsrpt post": make_ssl_context(),
        "mta-sts fetch, own CAs only": make_ssl_context(system_cas=False),
        "dns check starttls probe": verify_context(CheckOptions()),
    }


def test_every_context_has_a_tls12_floor(tmp_path: Path) -> None:
    for name, ctx in _contexts(tmp_path).items():
        assert ctx.minimum_version >= TLS12, name
        assert ctx.minimum_version != ssl.TLSVersion.MINIMUM_SUPPORTED, name


@pytest.mark.parametrize(
    "name", ["smtp client", "mta-sts fetch / tlsrpt post", "dns check starttls probe"]
)
def test_clients_refuse_a_tls11_server(tmp_path: Path, name: str) -> None:
    ca = trustme.CA()
    ctx = _contexts(tmp_path)[name]
    if ctx.verify_mode != ssl.CERT_NONE:
        ca.configure_trust(ctx)
    with tls11_server(ca) as (port, outcomes):
        result = handshake(port, ctx)
    assert result.startswith("error:"), result
    assert outcomes and outcomes[0].startswith("error:"), outcomes


def test_clients_do_connect_to_a_tls12_server() -> None:
    """The same contexts against a TLS 1.2 server: the refusal above is the version."""
    ca = trustme.CA()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.maximum_version = TLS12
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), server.wrap_socket(conn, server_side=True):
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = listener.getsockname()[1]
    fetch = make_ssl_context()
    ca.configure_trust(fetch)
    assert handshake(port, client_context()) == "TLSv1.2"
    assert handshake(port, fetch) == "TLSv1.2"
    t.join(5)
    listener.close()


# -- the SMTP listeners --------------------------------------------------------------------


def _starttls_then(port: int, ctx: ssl.SSLContext) -> str:
    with socket.create_connection(("127.0.0.1", port), 10) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO client.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220 ")
        try:
            with ctx.wrap_socket(raw, server_hostname="mail.example.org") as tls:
                return str(tls.version())
        except (OSError, ssl.SSLError) as exc:
            return f"error: {exc}"


async def test_smtp_listeners_refuse_tls11(smtp_env: Env) -> None:
    for kind in ("smtp", "submission"):
        result = await run(lambda k=kind: _starttls_then(smtp_env.ports[k], tls11_client()))
        assert result.startswith("error:"), (kind, result)
        ok = await run(lambda k=kind: _starttls_then(smtp_env.ports[k], smtp_env.client_context()))
        assert ok in ("TLSv1.2", "TLSv1.3"), (kind, ok)
    port = smtp_env.ports["submissions"]
    result = await run(lambda: handshake(port, tls11_client(), "mail.example.org"))
    assert result.startswith("error:"), result
    ok = await run(lambda: handshake(port, smtp_env.client_context(), "mail.example.org"))
    assert ok in ("TLSv1.2", "TLSv1.3")


# -- the web listener --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_web_https_refuses_tls11(tmp_path: Path) -> None:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    web = cfg.static.listeners["local"].web
    web.enabled, web.tls, web.admin, web.webmail, web.port = True, True, True, True, _free_port()
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    try:
        async with AsyncExitStack() as stack:
            await start_web(cfg, store, MockResolver({}), stack)
            result = await run(lambda: handshake(web.port, tls11_client(), "mail.example.org"))
            assert result.startswith("error:"), result
            good = ssl.create_default_context()
            ca.configure_trust(good)
            version = await run(lambda: handshake(web.port, good, "mail.example.org"))
            assert version in ("TLSv1.2", "TLSv1.3")
    finally:
        store.close()


def test_web_listener_context_floor(tmp_path: Path) -> None:
    """The uvicorn context itself, as postel.web.listen loads it."""
    import uvicorn

    from postel.web.listen import load_config

    ca = trustme.CA()
    cert = ca.issue_cert("mail.example.org")
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))

    async def app(scope: object, receive: Callable[[], object], send: object) -> None:
        return None

    config = load_config(
        uvicorn.Config(
            app,
            ssl_certfile=str(tmp_path / "c.pem"),
            ssl_keyfile=str(tmp_path / "k.pem"),
            log_config=None,
            lifespan="off",
        )
    )
    assert config.ssl is not None
    assert config.ssl.minimum_version >= TLS12
    assert config.ssl.options & ssl.OP_NO_COMPRESSION


def test_no_module_lowers_the_floor() -> None:
    """No source file sets a minimum below TLS 1.2 or uses a legacy protocol constant."""
    src = Path(__file__).resolve().parents[2] / "src" / "postel"
    bad = (
        "TLSv1_1",
        "TLSv1_0",
        "TLSv1 ",
        "PROTOCOL_TLSv1",
        "PROTOCOL_SSLv",
        "SECLEVEL=0",
        "MINIMUM_SUPPORTED",
        "OP_NO_TLSv1_2",
        "OP_NO_TLSv1_3",
    )
    for path in src.rglob("*.py"):
        text = path.read_text()
        for word in bad:
            assert word not in text, (path, word)
