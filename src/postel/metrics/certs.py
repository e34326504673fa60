"""Expiry of the certificates the listeners serve, for the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509

from postel.metrics.scrape import CertExpiry


def listener_certificates(cert_files: Mapping[str, Sequence[Path]]) -> list[CertExpiry]:
    """(listener, file, not-after as Unix time) of each listener's certificate
    files (*cert_files*: by listener name) that can be read; unreadable ones are
    the certificate check's to report."""
    out: list[CertExpiry] = []
    for name, files in cert_files.items():
        for cert_file in files:
            try:
                cert = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
            except (OSError, ValueError, IndexError):
                continue
            out.append((name, str(cert_file), cert.not_valid_after_utc.timestamp()))
    return out
