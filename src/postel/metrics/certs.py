"""Expiry of the certificates the listeners serve, for the metrics."""

from __future__ import annotations

from cryptography import x509

from postel.config import Config
from postel.metrics.scrape import CertExpiry


def listener_certificates(cfg: Config) -> list[CertExpiry]:
    """(listener, file, not-after as Unix time) of each listener's certificate
    files that can be read; unreadable ones are the certificate check's to report."""
    out: list[CertExpiry] = []
    for name, lst in cfg.static.listeners.items():
        for cert_file, _key in cfg.tls_pairs(lst):
            try:
                cert = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
            except (OSError, ValueError, IndexError):
                continue
            out.append((name, str(cert_file), cert.not_valid_after_utc.timestamp()))
    return out
