"""All start-up checks of one configuration, in the order an operator fixes them."""

from __future__ import annotations

from postel.config import Config
from postel.config.load import STATIC_FILE
from postel.preflight.ports import Endpoint, check_endpoint
from postel.preflight.tlsfiles import check_pair


def endpoints(cfg: Config) -> list[Endpoint]:
    """Every address and port the configured listeners bind (SMTP and web)."""
    out: list[Endpoint] = []
    for name, lst in cfg.static.listeners.items():
        for kind in ("smtp", "submission", "submissions"):
            port = getattr(lst, kind)
            if port.enabled:
                what, setting = f"listener {name!r} {kind}", f"listeners.{name}.{kind}.port"
                out.extend(Endpoint(ip, int(port.port), what, setting) for ip in lst.ips)
        if lst.web.enabled:
            what, setting = f"listener {name!r} web", f"listeners.{name}.web.port"
            out.extend(Endpoint(ip, lst.web.port, what, setting) for ip in lst.ips)
    return out


def preflight(cfg: Config) -> None:
    """Raise StartupError (one line: what, where, what to do) for the first problem:
    the data directory's version, each listener's certificate and key, each port."""
    config_file = str(cfg.dir / STATIC_FILE)
    cfg.datadir.check_version()
    for name, lst in cfg.static.listeners.items():
        if lst.tls_cert_file and lst.tls_key_file:
            check_pair(cfg.path(lst.tls_cert_file), cfg.path(lst.tls_key_file), name, config_file)
    for ep in endpoints(cfg):
        check_endpoint(ep, config_file)
