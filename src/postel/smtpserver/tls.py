"""TLS server contexts for the SMTP listeners (TLS 1.2 or newer)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from postel.smtpserver.errors import ListenerConfigError


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context with the listener's certificate chain and key."""
    return server_context_pairs([(cert_file, key_file)])


def server_context_pairs(pairs: Sequence[tuple[Path, Path]]) -> ssl.SSLContext:
    """A server context with every (chain, key) of *pairs*: one ECDSA and one RSA
    key may both be offered, OpenSSL picks per client."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    for cert_file, key_file in pairs:
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ListenerConfigError(
                f"cannot load TLS certificate {cert_file} / key {key_file}: {exc}"
            ) from exc
    return ctx
