"""All start-up checks of one configuration, in the order an operator fixes them."""

from __future__ import annotations

import socket

from postel.config import Config
from postel.config.load import STATIC_FILE
from postel.config.model import StaticConfig
from postel.preflight.ports import Endpoint, check_endpoint, listen_endpoint
from postel.preflight.storagefiles import check_password_file
from postel.preflight.tlsfiles import check_pair


def endpoints(static: StaticConfig) -> list[Endpoint]:
    """Every address and port the configured listeners bind (SMTP, IMAP and web, and
    ACME's HTTP-01 responder)."""
    out: list[Endpoint] = []
    for name, lst in static.listeners.items():
        for kind in ("smtp", "submission", "submissions", "imap", "imaps"):
            port = getattr(lst, kind)
            if port.enabled:
                what, setting = f"listener {name!r} {kind}", f"listeners.{name}.{kind}.port"
                out.extend(
                    Endpoint(ip, int(port.port), what, setting, name, kind) for ip in lst.ips
                )
        if lst.web.enabled:
            what, setting = f"listener {name!r} web", f"listeners.{name}.web.port"
            out.extend(Endpoint(ip, lst.web.port, what, setting, name, "web") for ip in lst.ips)
    acme = static.acme
    if acme.enabled and acme.http01_port:  # the ACME HTTP-01 responder (postel.acme)
        from postel.acme.names import http01_responder_ips

        ips = http01_responder_ips(static)
        out.extend(
            Endpoint(ip, acme.http01_port, "acme http-01", "acme.http01_port", "acme", "http01")
            for ip in ips
        )
    return out


def check_owner(cfg: Config) -> None:
    """DataDirInUse when a server runs on this data directory already (the lock
    itself is taken by postel.server.run; this says so before any port is bound)."""
    from postel.owner import OwnerLock, running_owner

    if running_owner(cfg.datadir.root) is not None:
        lock = OwnerLock(cfg.datadir.root)
        lock.acquire()  # raises DataDirInUse naming the pid
        lock.release()  # the other server stopped meanwhile


def preflight(cfg: Config, *, ports: bool = True) -> None:
    """Raise StartupError (one line: what, where, what to do) for the first problem:
    the PostgreSQL password file, the data directory's version, each listener's
    certificate and key, each port (unless *ports* is False: bound already, see
    :func:`listen_all`)."""
    config_file = str(cfg.dir / STATIC_FILE)
    check_owner(cfg)
    check_password_file(cfg.static.storage, cfg.dir)
    cfg.datadir.check_version()
    for name, lst in cfg.static.listeners.items():
        if lst.tls_cert_file and lst.tls_key_file:
            check_pair(cfg.path(lst.tls_cert_file), cfg.path(lst.tls_key_file), name, config_file)
    if ports:
        for ep in endpoints(cfg.static):
            check_endpoint(ep, config_file)


Sockets = dict[tuple[str, str, str], socket.socket]  # (listener, kind, ip) -> listening


def listen_all(cfg: Config) -> Sockets:
    """A listening socket for every configured SMTP, IMAP and web address, keyed
    (listener, kind, ip) with kind smtp, submission, submissions, imap, imaps or web: bound
    while postel may still bind privileged ports (before the switch of user)."""
    config_file = str(cfg.dir / STATIC_FILE)
    out: Sockets = {}
    try:
        for ep in endpoints(cfg.static):
            out[(ep.listener, ep.kind, ep.ip)] = listen_endpoint(ep, config_file)
    except BaseException:
        for sock in out.values():
            sock.close()
        raise
    return out
