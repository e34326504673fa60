"""Ordering certificates from an ACME CA (RFC 8555) with the `acme` package.

Every function here blocks (HTTP to the CA, polling): call them from a
thread (postel.acme.manager does), never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import requests
from acme.challenges import KeyAuthorizationChallengeResponse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from josepy.b64 import b64encode
from josepy.jwa import ES256
from josepy.jwk import JWKEC

import postel
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from postel.acme.challenges import Challenges
from postel.acme.errors import ACMEError, TemporaryACMEError
from postel.acme.storage import CertStore
from postel.hostkeys import HostKey

log = logging.getLogger("postel.acme")

NETWORK_TIMEOUT = 30  # seconds per HTTP request to the CA
ORDER_TIMEOUT = 120  # seconds for validation and issuance of one order
TEMPORARY_CODES = {"serverInternal", "rateLimited", "badNonce"}


@dataclass(frozen=True)
class Settings:
    directory: str
    contact: str = ""
    eab_kid: str = ""
    eab_hmac_key: str = ""
    ca_file: str = ""  # trusted for the directory's HTTPS; "" the system's
    challenge: str = "tls-alpn-01"


class _Ready(KeyAuthorizationChallengeResponse):
    """The empty object that asks the CA to validate (RFC 8555 §7.5.1). It holds
    the key authorization only because the library sends an object without
    fields as an empty POST-as-GET body; type and key authorization are dropped
    from the JSON."""

    typ = "postel-ready"


def csr_pem(key: HostKey, names: list[str]) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def _problem(exc: BaseException, where: str) -> ACMEError:
    """One error class and one line for whatever the CA or the network did."""
    if isinstance(exc, ACMEError):
        return exc
    if isinstance(exc, requests.exceptions.RequestException):
        return TemporaryACMEError(f"{where}: cannot reach the CA: {exc}")
    if isinstance(exc, messages.Error):
        text = f"{where}: the CA answered {exc.code or exc.typ}: {exc.detail or exc.title}"
        if exc.code in TEMPORARY_CODES:
            return TemporaryACMEError(text)
        return ACMEError(text)
    if isinstance(exc, acme_errors.TimeoutError):
        return TemporaryACMEError(f"{where}: the CA did not finish in {ORDER_TIMEOUT} s")
    if isinstance(exc, acme_errors.ValidationError):
        # the CA could not validate a challenge for a name (RFC 8555 §7.5.1)
        return ACMEError(f"{where}: {_failed_authorizations(exc)}")
    return ACMEError(f"{where}: {type(exc).__name__}: {exc}")


def _failed_authorizations(exc: acme_errors.ValidationError) -> str:
    parts: list[str] = []
    for authzr in exc.failed_authzrs:
        for challb in authzr.body.challenges:
            if challb.error is not None:
                err = challb.error
                typ = challb.chall.to_partial_json().get("type")
                parts.append(
                    f"challenge {typ} for {authzr.body.identifier.value} failed: "
                    f"{err.code or err.typ}: {err.detail}"
                )
    return "; ".join(parts) or "a challenge failed"


class Session:
    """One registered account at one CA."""

    def __init__(self, settings: Settings, store: CertStore) -> None:
        self.settings = settings
        self.store = store
        self.where = f"ACME CA {settings.directory}"
        try:
            self._connect()
        except Exception as exc:
            raise _problem(exc, self.where) from exc

    def _connect(self) -> None:
        s = self.settings
        self.jwk = JWKEC(key=self.store.account_key())
        self.client = connect(s, self.jwk)
        net = self.client.net
        meta = self.client.directory.meta
        caa = [str(c) for c in (meta.caa_identities or ())] if meta is not None else []
        # newAccount every time: for a key with an account the CA answers with
        # its URL (RFC 8555 §7.3.1), and an account the CA lost is made again.
        eab = None
        if s.eab_kid:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self.jwk.public_key(),
                kid=s.eab_kid,
                hmac_key=s.eab_hmac_key,
                directory=self.client.directory,
            )
        elif self.client.external_account_required():
            raise ACMEError(
                f"{self.where} requires an external account binding: set [acme] eab_kid "
                "and eab_hmac_key_file"
            )
        reg = messages.NewRegistration.from_data(
            email=s.contact or None,
            terms_of_service_agreed=True,
            external_account_binding=eab,
        )
        try:
            regr = self.client.new_account(reg)
            uri = regr.uri
            log.info("acme account registered", extra={"ca": s.directory, "account": uri})
        except acme_errors.ConflictError as exc:  # the key has an account already
            uri = exc.location
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        assert uri is not None
        self.store.save_account(s.directory, uri, caa)

    @property
    def account_uri(self) -> str:
        regr = self.client.net.account
        assert regr is not None and regr.uri is not None
        return str(regr.uri)

    def key_authorization(self, token: str) -> str:
        """token.thumbprint (RFC 8555 §8.1)."""
        thumb = b64encode(self.jwk.public_key().thumbprint(hash_function=hashes.SHA256))
        return f"{token}.{thumb.decode()}"

    def order(self, names: list[str], key: HostKey, challenges: Challenges) -> str:
        """A new certificate for *names* on *key*: the PEM chain."""
        where = f"{self.where}, order for {', '.join(names)}"
        try:
            orderr = self.client.new_order(csr_pem(key, names))
            deadline = dt.datetime.now() + dt.timedelta(seconds=ORDER_TIMEOUT)
            added: list[tuple[str, str]] = []
            try:
                for authzr in orderr.authorizations:
                    if authzr.body.status == messages.STATUS_VALID:
                        continue  # the CA reuses a recent validation
                    added.append(self._answer(authzr, challenges))
                orderr = self.client.poll_authorizations(orderr, deadline)
            finally:
                for typ, ident in added:
                    if typ == "tls-alpn-01":
                        challenges.remove_tls_alpn(ident)
                    else:
                        challenges.remove_http(ident)
            orderr = self.client.finalize_order(orderr, deadline)
        except Exception as exc:
            raise _problem(exc, where) from exc
        return str(orderr.fullchain_pem)

    def _answer(
        self, authzr: messages.AuthorizationResource, challenges: Challenges
    ) -> tuple[str, str]:
        want = self.settings.challenge
        name = str(authzr.body.identifier.value)
        for challb in authzr.body.challenges:
            # The library knows http-01 but not tls-alpn-01 (UnrecognizedChallenge):
            # the JSON has type and token for both.
            jobj = challb.chall.to_partial_json()
            if jobj.get("type") != want:
                continue
            token = str(jobj["token"])
            keyauth = self.key_authorization(token)
            if want == "tls-alpn-01":
                challenges.add_tls_alpn(name, keyauth, self.store.root / "tmp")
                added = (want, name)
            else:
                challenges.add_http(token, keyauth)
                added = (want, token)
            log.info("acme challenge ready", extra={"challenge": want, "domain": name})
            self.client.answer_challenge(challb, _Ready(key_authorization=keyauth))
            return added
        raise ACMEError(f"{self.where} offers no {want} challenge for {name}")


def ari_time(settings: Settings, chain_pem: bytes) -> dt.datetime | None:
    """A random time in the renewal window the CA suggests for the certificate
    (ARI, RFC 9773 §4.2), or None when its directory has no renewalInfo or the
    CA cannot be asked now. Unauthenticated GETs: no account needed."""
    try:
        client = connect(settings, None)
        when, _ = client.renewal_time(chain_pem)
    except Exception as exc:
        log.info("acme renewal info not available", extra={"err": str(exc)})
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def connect(settings: Settings, key: JWKEC | None) -> acme_client.ClientV2:
    """A client with the CA's directory (one GET)."""
    net = acme_client.ClientNetwork(
        key, alg=ES256, user_agent=f"postel/{postel.__version__}", timeout=NETWORK_TIMEOUT
    )
    if settings.ca_file:
        net.verify_ssl = settings.ca_file  # type: ignore[assignment]  # requests takes a path
    return acme_client.ClientV2(acme_client.ClientV2.get_directory(settings.directory, net), net)


def read_eab_key(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def order_one(
    settings: Settings, store: CertStore, names: list[str], challenges: Challenges, key: HostKey
) -> str:
    """A certificate for *names* on *key* (a rollover's next key): the PEM chain."""
    return Session(settings, store).order(names, key, challenges)
