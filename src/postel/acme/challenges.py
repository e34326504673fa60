"""Challenges being answered, shared between the ACME client thread and the listeners.

The client thread adds an answer before telling the CA to validate and removes
it afterwards; listeners on the event loop read it. Plain dict operations,
atomic under the GIL.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from postel.acme.tlsalpn import ALPN_PROTOCOL, challenge_certificate
from postel.hostkeys import generate_key, key_pem


class Challenges:
    def __init__(self) -> None:
        self._alpn: dict[str, ssl.SSLContext] = {}
        self._http: dict[str, str] = {}

    # TLS-ALPN-01 (RFC 8737)
    def add_tls_alpn(self, name: str, key_authorization: str, tmpdir: Path) -> None:
        self._alpn[name.lower()] = alpn_context(name, key_authorization, tmpdir)

    def remove_tls_alpn(self, name: str) -> None:
        self._alpn.pop(name.lower(), None)

    def tls_alpn_context(self, server_name: str) -> ssl.SSLContext | None:
        return self._alpn.get(server_name.lower().rstrip("."))

    # HTTP-01 (RFC 8555 §8.3)
    def add_http(self, token: str, key_authorization: str) -> None:
        self._http[token] = key_authorization

    def remove_http(self, token: str) -> None:
        self._http.pop(token, None)

    def http_answer(self, token: str) -> str | None:
        return self._http.get(token)


def alpn_context(name: str, key_authorization: str, tmpdir: Path) -> ssl.SSLContext:
    """A server context presenting the challenge certificate for *name* and
    negotiating only acme-tls/1 (RFC 8737 §3)."""
    key = generate_key()
    cert = challenge_certificate(name, key_authorization, key)
    pem = key_pem(key) + cert.public_bytes(serialization.Encoding.PEM)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols([ALPN_PROTOCOL])
    # ssl loads certificates from files only: a private temporary file.
    fd, path = tempfile.mkstemp(dir=tmpdir, prefix="acme-alpn-", suffix=".pem")
    try:
        os.write(fd, pem)
        os.close(fd)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx
