"""ACME in `postel serve`: host keys ready before the listeners, then the loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from contextlib import AsyncExitStack

from postel.acme.challenges import Challenges
from postel.acme.client import Settings, read_eab_key
from postel.acme.errors import ACMEError
from postel.acme.http01 import HTTP01Server
from postel.acme.manager import ACMEManager
from postel.acme.names import certificate_names, http01_responder_ips
from postel.acme.published import names_pointing_here
from postel.acme.rollover import Published, tlsa_published
from postel.acme.storage import CertStorage, CertStore
from postel.config import Config
from postel.dns.resolver import DNSResolver


def prepare(cfg: Config) -> CertStore:
    """Host keys, and self-signed certificates until the CA's: made before any
    listener (the SMTP workers too) loads them."""
    store = CertStore(cfg.datadir.root)
    store.ensure(certificate_names(cfg.static.hostname, cfg.domains.domains.keys()))
    return store


async def prepare_storage(cfg: Config) -> tuple[CertStorage, Challenges]:
    """Where the keys and certificates are kept, ready before any listener
    loads them, and the challenges the listeners answer: the data directory's
    files, or on the PostgreSQL store the database shared by the nodes
    (postel.pg.acmestore), with the files as this node's copy."""
    if cfg.static.storage.backend != "postgresql":
        return prepare(cfg), Challenges()
    from postel.pg.acmechallenges import PgChallenges
    from postel.pg.acmestore import PgCertStore
    from postel.wiring import pg_settings

    settings = pg_settings(cfg.static.storage, cfg.dir)
    cfg.datadir.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    challenges = PgChallenges(settings, cfg.datadir.tmp)
    storage = PgCertStore(CertStore(cfg.datadir.root), settings, challenges)
    await storage.setup(certificate_names(cfg.static.hostname, cfg.domains.domains.keys()))
    return storage, challenges


def settings(cfg: Config) -> Settings:
    a = cfg.static.acme
    hmac = ""
    if a.eab_hmac_key_file:
        path = cfg.path(a.eab_hmac_key_file)
        try:
            hmac = read_eab_key(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ACMEError(f"[acme] eab_hmac_key_file {path}: cannot read: {exc}") from exc
    return Settings(
        directory=a.directory_url,
        contact=a.contact,
        eab_kid=a.eab_kid,
        eab_hmac_key=hmac,
        ca_file=str(cfg.path(a.ca_file)) if a.ca_file else "",
        challenge=a.challenge,
    )


async def start(
    cfg: Config,
    store: CertStorage,
    challenges: Challenges,
    stack: AsyncExitStack,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
) -> ACMEManager:
    """Start the http-01 responder if configured, the renewal loop and the
    follower of other nodes' certificates (*store* shared); all are stopped by
    *stack*. *sockets*: bound already, keyed ("acme", "http01", ip)
    (postel.preflight.listen_all, for a root start)."""
    a = cfg.static.acme
    if a.http01_port:
        ips = http01_responder_ips(cfg.static)
        bound = {
            ip: s
            for (owner, kind, ip), s in (sockets or {}).items()
            if (owner, kind) == ("acme", "http01")
        }
        http = HTTP01Server(challenges)
        stack.push_async_callback(http.stop)
        await http.start(ips, a.http01_port, bound)
    resolver = DNSResolver(
        cfg.static.dns.nameservers or None, port=cfg.static.dns.port, timeout=cfg.static.dns.timeout
    )

    async def tlsa_check(digest: str) -> Published:
        return await tlsa_published(resolver, cfg.static.hostname, digest)

    async def reachable(wanted: list[str], current: frozenset[str]) -> list[str]:
        return await names_pointing_here(resolver, cfg.static.hostname, wanted, current)

    manager = ACMEManager(
        settings(cfg),
        store,
        # Read at each renewal round: a reload of domains.toml applies.
        lambda: certificate_names(cfg.static.hostname, cfg.domains.domains.keys()),
        challenges,
        retry_min=a.retry_min,
        retry_max=a.retry_max,
        tlsa_check=tlsa_check,
        reachable=reachable,
    )
    task = asyncio.create_task(manager.run(), name="acme")
    # Another node's new certificate: the loop looks again at once.
    follower = asyncio.create_task(store.follow(manager.wake.set), name="acme-follow")

    async def stop() -> None:
        for t in (task, follower):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    stack.push_async_callback(stop)
    return manager
