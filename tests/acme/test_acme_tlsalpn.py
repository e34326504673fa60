"""The TLS-ALPN-01 challenge certificate (RFC 8737 §3) and its use by a
reloading listener context (postel.tlsreload): a handshake in memory."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

from cryptography import x509

from postel.acme.challenges import Challenges
from postel.acme.storage import CertStore
from postel.acme.tlsalpn import ALPN_PROTOCOL, ID_PE_ACME_IDENTIFIER, challenge_certificate
from postel.hostkeys import generate_key
from postel.smtpserver.tls import server_context_pairs
from postel.tlsreload import ReloadingContext

KEYAUTH = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def test_challenge_certificate() -> None:
    cert = challenge_certificate("mail.example.org", KEYAUTH, generate_key())
    ext = cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER)
    assert ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    # Authorization ::= OCTET STRING (SIZE (32)) of SHA-256(key authorization)
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(KEYAUTH.encode()).digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.org"]


def handshake(
    server_ctx: ssl.SSLContext, server_name: str, alpn: list[str] | None
) -> tuple[x509.Certificate, str | None]:
    """A TLS handshake in memory; the certificate the server sent and the ALPN."""
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        client_ctx.set_alpn_protocols(alpn)
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        try:
            client.do_handshake()
            server.do_handshake()
            break
        except ssl.SSLWantReadError:
            continue
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der), client.selected_alpn_protocol()


def test_listener_answers_challenge_for_its_name_only(tmp_path: Path) -> None:
    store = CertStore(tmp_path)
    store.ensure(["mail.example.org"])
    challenges = Challenges()
    reloading = ReloadingContext(store.pairs(), server_context_pairs, challenges=challenges)
    challenges.add_tls_alpn("mta-sts.example.org", KEYAUTH, tmp_path)
    cert, alpn = handshake(reloading.front, "mta-sts.example.org", [ALPN_PROTOCOL])
    assert alpn == ALPN_PROTOCOL
    assert cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER).critical
    # Other names get the host certificate.
    cert, _ = handshake(reloading.front, "mail.example.org", ["http/1.1"])
    assert cert == store.chain("ecdsa")[0]
    challenges.remove_tls_alpn("mta-sts.example.org")
    cert, _ = handshake(reloading.front, "mta-sts.example.org", [ALPN_PROTOCOL])
    assert cert == store.chain("ecdsa")[0]
    assert list(tmp_path.glob("acme-alpn-*")) == []  # the temporary PEM is gone


def test_reload_moves_new_handshakes_to_the_new_file(tmp_path: Path) -> None:
    store = CertStore(tmp_path)
    store.ensure(["mail.example.org"])
    reloading = ReloadingContext(store.pairs(), server_context_pairs)
    before, _ = handshake(reloading.front, "mail.example.org", None)
    assert reloading.check() is False  # nothing changed
    store.cert_file("ecdsa").unlink()
    store.cert_file("rsa").unlink()
    store.ensure(["mail.example.org", "mta-sts.example.org"])  # new certificates, same keys
    assert reloading.check() is True
    after, _ = handshake(reloading.front, "mail.example.org", None)
    assert after != before and after == store.chain("ecdsa")[0]
    assert after.public_key() == before.public_key()
