"""How postel connects to other parties' HTTPS servers: MTA-STS policy hosts
(RFC 8461 §3.3) and TLS report endpoints (RFC 8460 §3): the CA files trusted
besides the system's, and the internal networks allowed besides public
addresses ([tls] extra_ca_files, [delivery] allowed_internal_networks)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from postel.netpolicy import AddressPolicy

if TYPE_CHECKING:
    from postel.config import Config


@dataclass(frozen=True)
class HTTPSClientSettings:
    extra_ca_files: tuple[Path, ...]
    addresses: AddressPolicy

    @classmethod
    def from_config(cls, cfg: Config) -> HTTPSClientSettings:
        return cls(
            extra_ca_files=tuple(cfg.path(p) for p in cfg.static.tls.extra_ca_files),
            addresses=AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """PKIX verification against the system's CAs and the extra CA files."""
        from postel.mtasts.fetch import make_ssl_context

        return make_ssl_context(self.extra_ca_files)
