"""TLSA records (RFC 6698 §2) and their usability for SMTP (RFC 7672 §3.1)."""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from postel.dane.errors import TLSAParseError

if TYPE_CHECKING:
    import dns.rdata


class Usage(IntEnum):
    """Certificate usage field, names from RFC 7218 §2.1."""

    PKIX_TA = 0
    PKIX_EE = 1
    DANE_TA = 2
    DANE_EE = 3


class Selector(IntEnum):
    """Selector field, names from RFC 7218 §2.2."""

    CERT = 0
    SPKI = 1


class MatchingType(IntEnum):
    """Matching type field, names from RFC 7218 §2.3."""

    FULL = 0
    SHA2_256 = 1
    SHA2_512 = 2


# RFC 7218 mnemonics accepted in presentation form besides the numbers.
_MNEMONICS: dict[str, dict[str, int]] = {
    "usage": {"PKIX-TA": 0, "PKIX-EE": 1, "DANE-TA": 2, "DANE-EE": 3, "PRIVCERT": 255},
    "selector": {"CERT": 0, "SPKI": 1, "PRIVSEL": 255},
    "mtype": {"FULL": 0, "SHA2-256": 1, "SHA2-512": 2, "PRIVMATCH": 255},
}

_DIGEST_LENGTHS = {MatchingType.SHA2_256: 32, MatchingType.SHA2_512: 64}

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, order=True)
class TLSARecord:
    """One TLSA record: the three parameter fields and the association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    def __post_init__(self) -> None:
        for field in ("usage", "selector", "mtype"):
            value = getattr(self, field)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"TLSA {field} must be an integer 0..255, not {value!r}")

    # --- construction -------------------------------------------------------

    @classmethod
    def from_rdata(cls, rdata: dns.rdata.Rdata) -> TLSARecord:
        """From a dnspython TLSA rdata (``dns.rdtypes.ANY.TLSA.TLSA``).

        A ``dns.rdata.GenericRdata`` (unparsed wire data) is accepted too: recent
        dnspython refuses TLSA digests of the wrong length, which RFC 7672 §3.1
        wants treated as unusable records rather than as a broken answer.
        """
        fields: Any = rdata
        if hasattr(fields, "usage"):
            return cls(
                int(fields.usage), int(fields.selector), int(fields.mtype), bytes(fields.cert)
            )
        return cls.from_wire(bytes(fields.data))

    @classmethod
    def from_wire(cls, wire: bytes) -> TLSARecord:
        """From TLSA RDATA in wire form (RFC 6698 §2.1)."""
        if len(wire) < 3:
            raise TLSAParseError(
                f"RDATA of {len(wire)} bytes is shorter than 3",
                text=wire.hex(),
                field="usage" if not wire else ("selector", "mtype")[len(wire) - 1],
                offset=len(wire),
            )
        return cls(wire[0], wire[1], wire[2], bytes(wire[3:]))

    @classmethod
    def from_text(cls, text: str) -> TLSARecord:
        """From presentation form, "3 1 1 <hex>" (RFC 6698 §2.2).

        The hex data may be split by white space; RFC 7218 mnemonics such as
        "DANE-EE SPKI SHA2-256" are accepted for the first three fields.
        """
        tokens = list(_TOKEN.finditer(text))
        names = ("usage", "selector", "mtype")
        values: list[int] = []
        for i, name in enumerate(names):
            if i >= len(tokens):
                raise TLSAParseError("missing", text=text, field=name, offset=len(text))
            values.append(_parse_field(text, name, tokens[i]))
        if len(tokens) <= 3:
            raise TLSAParseError(
                "missing certificate association data", text=text, field="data", offset=len(text)
            )
        hexdata = "".join(t.group() for t in tokens[3:])
        start = tokens[3].start()
        for t in tokens[3:]:
            bad = re.search(r"[^0-9A-Fa-f]", t.group())
            if bad:
                raise TLSAParseError(
                    f"not a hex digit: {bad.group()!r}",
                    text=text,
                    field="data",
                    offset=t.start() + bad.start(),
                )
        if len(hexdata) % 2:
            raise TLSAParseError(
                f"odd number of hex digits ({len(hexdata)})", text=text, field="data", offset=start
            )
        return cls(values[0], values[1], values[2], binascii.unhexlify(hexdata))

    # --- presentation ---------------------------------------------------------

    def text(self) -> str:
        """Presentation form "usage selector mtype hex", hex in lower case."""
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    def policy_string(self) -> str:
        """One RFC 8460 §4.3 policy-string entry for this record ("usage selector mtype hex")."""
        return self.text()

    def __str__(self) -> str:
        return self.text()

    # --- usability ------------------------------------------------------------

    def unusable_reason(self) -> str | None:
        """Why this record cannot be used for SMTP (RFC 7672 §3.1), or None if usable."""
        if self.usage in (Usage.PKIX_TA, Usage.PKIX_EE):
            return f"usage {self.usage} (PKIX-TA/PKIX-EE) is not usable for SMTP (RFC 7672 §3.1.3)"
        if self.usage not in (Usage.DANE_TA, Usage.DANE_EE):
            return f"unknown usage {self.usage}"
        if self.selector not in (Selector.CERT, Selector.SPKI):
            return f"unknown selector {self.selector}"
        if self.mtype not in (MatchingType.FULL, MatchingType.SHA2_256, MatchingType.SHA2_512):
            return f"unknown matching type {self.mtype}"
        if self.mtype == MatchingType.FULL:
            return self._full_data_problem()
        want = _DIGEST_LENGTHS[MatchingType(self.mtype)]
        if len(self.data) != want:
            return f"matching type {self.mtype} needs {want} bytes of data, got {len(self.data)}"
        return None

    @property
    def usable(self) -> bool:
        return self.unusable_reason() is None

    def _full_data_problem(self) -> str | None:
        try:
            if self.selector == Selector.CERT:
                x509.load_der_x509_certificate(self.data)
            else:
                serialization.load_der_public_key(self.data)
        except (ValueError, TypeError) as exc:
            what = "certificate" if self.selector == Selector.CERT else "SubjectPublicKeyInfo"
            return f"data is not a DER {what}: {exc}"
        return None

    def anchor_certificate(self) -> x509.Certificate | None:
        """The certificate in a "2 0 0" record (full trust-anchor certificate), else None."""
        if (self.usage, self.selector, self.mtype) != (Usage.DANE_TA, Selector.CERT, 0):
            return None
        try:
            return x509.load_der_x509_certificate(self.data)
        except ValueError:
            return None

    def anchor_public_key(self) -> PublicKeyTypes | None:
        """The key in a "2 1 0" record (full trust-anchor SPKI), else None."""
        if (self.usage, self.selector, self.mtype) != (Usage.DANE_TA, Selector.SPKI, 0):
            return None
        try:
            return serialization.load_der_public_key(self.data)
        except (ValueError, TypeError):
            return None

    # --- matching ---------------------------------------------------------------

    def matches_der(self, cert_der: bytes, spki_der: bytes | None) -> bool:
        """Whether the record matches a certificate given as DER (and its SPKI DER).

        ``spki_der`` may be None when the certificate could not be parsed; then
        only selector 0 records can match.
        """
        if self.selector == Selector.CERT:
            selected = cert_der
        elif self.selector == Selector.SPKI and spki_der is not None:
            selected = spki_der
        else:
            return False
        return _digest(selected, self.mtype) == self.data

    def matches(self, cert: x509.Certificate) -> bool:
        """Whether the record matches a parsed certificate."""
        return self.matches_der(cert.public_bytes(serialization.Encoding.DER), spki_der(cert))


def _parse_field(text: str, name: str, token: re.Match[str]) -> int:
    raw = token.group()
    mnemonic = _MNEMONICS[name].get(raw.upper())
    if mnemonic is not None:
        return mnemonic
    if not raw.isascii() or not raw.isdigit():
        raise TLSAParseError(
            f"not a number or known mnemonic: {raw!r}", text=text, field=name, offset=token.start()
        )
    value = int(raw)
    if value > 255:
        raise TLSAParseError(
            f"value {value} out of range 0..255", text=text, field=name, offset=token.start()
        )
    return value


def _digest(data: bytes, mtype: int) -> bytes | None:
    if mtype == MatchingType.FULL:
        return data
    if mtype == MatchingType.SHA2_256:
        return hashlib.sha256(data).digest()
    if mtype == MatchingType.SHA2_512:
        return hashlib.sha512(data).digest()
    return None


def spki_der(cert: x509.Certificate) -> bytes:
    """DER SubjectPublicKeyInfo of a certificate (what selector 1 selects)."""
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def association_data(
    subject: x509.Certificate | PublicKeyTypes, selector: int, mtype: int
) -> bytes:
    """Certificate association data for a certificate or public key (RFC 6698 §2.1.3).

    A bare public key only supports selector 1 (SPKI).
    """
    if isinstance(subject, x509.Certificate):
        if selector == Selector.CERT:
            selected = subject.public_bytes(serialization.Encoding.DER)
        elif selector == Selector.SPKI:
            selected = spki_der(subject)
        else:
            raise ValueError(f"unknown selector {selector}")
    else:
        if selector != Selector.SPKI:
            raise ValueError("a public key without certificate needs selector 1 (SPKI)")
        selected = subject.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    digest = _digest(selected, mtype)
    if digest is None:
        raise ValueError(f"unknown matching type {mtype}")
    return digest


def tlsa_for(
    subject: x509.Certificate | PublicKeyTypes,
    usage: int = Usage.DANE_EE,
    selector: int = Selector.SPKI,
    mtype: int = MatchingType.SHA2_256,
) -> TLSARecord:
    """A TLSA record for a certificate or public key; by default "3 1 1" (RFC 7671 §8.1)."""
    return TLSARecord(
        int(usage), int(selector), int(mtype), association_data(subject, selector, mtype)
    )


def policy_strings(records: Iterable[TLSARecord]) -> list[str]:
    """RFC 8460 §4.3 policy-string for a TLSA policy: the usable records, sorted."""
    return sorted(r.policy_string() for r in records if r.usable)


def usable_records(records: Iterable[TLSARecord]) -> list[TLSARecord]:
    """The records usable for SMTP (RFC 7672 §3.1), in their original order."""
    return [r for r in records if r.usable]
