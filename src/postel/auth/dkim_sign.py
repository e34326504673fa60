"""DKIM signing of outgoing mail (RFC 6376 §5, RFC 8463 for ed25519) with dkimpy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import dkim

from postel.auth.dkim_key import SigningKey, dkimpy_private_key, key_algorithm
from postel.auth.errors import DKIMKeyError, DKIMSignError
from postel.config.domains import SIGNED_HEADERS

if TYPE_CHECKING:
    from postel.config import Config

log = logging.getLogger("postel.auth")

_ALGORITHMS = {"ed25519": b"ed25519-sha256", "rsa": b"rsa-sha256"}


@dataclass(frozen=True)
class SignSelector:
    """One selector used for signing: its key and the header fields to sign."""

    name: str
    algorithm: Literal["ed25519", "rsa"]
    key: SigningKey
    headers: tuple[str, ...]


@dataclass(frozen=True)
class DKIMSigner:
    """Signs for ``domain`` with each selector, in order (one signature each)."""

    domain: str
    selectors: tuple[SignSelector, ...]

    @classmethod
    def from_config(cls, cfg: Config, domain: str) -> DKIMSigner | None:
        """The signer for a configured domain; None if it has no signing selectors.

        Raises DKIMKeyError when a key file is missing, unreadable or of the wrong type.
        """
        from postel.config.keys import KeyFileError, load_private_key

        name = domain.lower().rstrip(".")
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        dom = cfg.domains.domains.get(name)
        if dom is None or not dom.dkim.sign:
            return None
        selectors: list[SignSelector] = []
        for sel_name in dom.dkim.sign:
            sel = dom.dkim.selectors.get(sel_name)
            if sel is None:
                raise DKIMKeyError(f"domain {name}: sign names unknown selector {sel_name!r}")
            path = cfg.path(sel.key_file)
            try:
                key = load_private_key(path, sel.algorithm)
            except KeyFileError as exc:
                raise DKIMKeyError(f"domain {name} selector {sel_name}: {exc}") from exc
            if not isinstance(key, SigningKey):
                raise DKIMKeyError(f"domain {name} selector {sel_name}: {path}: not ed25519/rsa")
            selectors.append(SignSelector(sel_name, sel.algorithm, key, tuple(sel.headers)))
        return cls(name, tuple(selectors))

    @classmethod
    def from_keys(
        cls, domain: str, keys: dict[str, SigningKey], headers: tuple[str, ...] | None = None
    ) -> DKIMSigner:
        """A signer from keys in hand (selector -> key), e.g. for tests and tools."""
        hdrs = headers or SIGNED_HEADERS
        sels = tuple(SignSelector(n, key_algorithm(k), k, hdrs) for n, k in keys.items())
        return cls(domain.lower().rstrip("."), sels)


def _present_headers(message: bytes) -> set[bytes]:
    try:
        headers, _ = dkim.rfc822_parse(message)
    except dkim.DKIMException as exc:
        raise DKIMSignError(f"cannot parse message header: {exc}") from exc
    return {bytes(n).lower() for n, _ in headers}


def sign_message(signer: DKIMSigner, message: bytes) -> bytes:
    """The message with one DKIM-Signature per selector prepended (relaxed/relaxed).

    Only configured header fields that are present are signed; From is required.
    Raises DKIMSignError.
    """
    present = _present_headers(message)
    if b"from" not in present:
        raise DKIMSignError("message has no From header field (RFC 6376 §5.4)")
    linesep = b"\r\n" if b"\r\n" in message or b"\n" not in message else b"\n"
    fields: list[bytes] = []
    for sel in signer.selectors:
        include = [h.lower().encode("ascii") for h in sel.headers]
        include = [h for h in dict.fromkeys(include) if h in present]
        if b"from" not in include:
            include.insert(0, b"from")
        d = dkim.DKIM(message, linesep=linesep, logger=logging.getLogger("postel.auth.dkimpy"))
        include = [h for h in include if h not in d.should_not_sign]
        try:
            sig = d.sign(
                sel.name.encode("ascii"),
                signer.domain.encode("ascii"),
                dkimpy_private_key(sel.key),
                signature_algorithm=_ALGORITHMS[sel.algorithm],
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=include,
            )
        except dkim.DKIMException as exc:
            raise DKIMSignError(
                f"signing for {signer.domain} with selector {sel.name}: {exc}"
            ) from exc
        fields.append(bytes(sig))
    log.debug(
        "dkim signed",
        extra={"domain": signer.domain, "selectors": ",".join(s.name for s in signer.selectors)},
    )
    return b"".join(fields) + message
