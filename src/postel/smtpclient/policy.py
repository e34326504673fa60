"""The TLS policy of one SMTP session (docs/delivery-policy.md)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

from postel.dane import TLSARecord
from postel.smtpclient.tlsmode import TLSMode


@dataclass
class TLSPolicy:
    """What the session does with TLS and how verification failures are treated.

    PKIX and DANE are always evaluated (for TLS reporting); ``verify_pkix`` and
    ``verify_dane`` decide whether a failure breaks the connection.
    ``ignore_verification_errors`` (TLS-Required: No, RFC 8689 §5) overrides both.
    ``allowed_names`` are the DANE reference identifiers (RFC 7672 §3.2.2); the
    first one is sent as SNI (RFC 7672 §8.1), else ``pkix_name``. ``pkix_name`` is
    the name the PKIX check uses (the MX host). ``extra_ca_files`` add trust
    anchors (PEM) to the system store.
    """

    mode: TLSMode
    verify_pkix: bool = False
    dane_records: list[TLSARecord] = field(default_factory=list)
    verify_dane: bool = False
    ignore_verification_errors: bool = False
    allowed_names: list[str] = field(default_factory=list)
    pkix_name: str = ""
    extra_ca_files: list[Path] = field(default_factory=list)

    def sni(self, host: str) -> str:
        """The server name sent in the TLS ClientHello."""
        name = self.allowed_names[0] if self.allowed_names else (self.pkix_name or host)
        return name.rstrip(".")

    def pkix_reference(self, host: str) -> str:
        return (self.pkix_name or host).rstrip(".")

    def cache_key(self) -> Hashable:
        """Everything that decides how a session was verified: a cached
        connection is reused only under an equal key (smtpclient.scache)."""
        return (
            self.mode,
            self.verify_pkix,
            tuple(sorted(self.dane_records)),
            self.verify_dane,
            self.ignore_verification_errors,
            tuple(self.allowed_names),
            self.pkix_name,
            tuple(str(p) for p in self.extra_ca_files),
        )

    @property
    def dane_enforced(self) -> bool:
        return self.verify_dane and bool(self.dane_records) and not self.ignore_verification_errors

    @property
    def pkix_enforced(self) -> bool:
        return self.verify_pkix and not self.ignore_verification_errors
