"""Server certificate name checks for DANE-TA (RFC 7672 §3.2.3, RFC 6125 §6.4)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID


def presented_names(cert: x509.Certificate) -> list[str]:
    """DNS names the certificate presents, lower case, without trailing dot.

    The subjectAltName dNSName entries; only when there are none, the subject
    common names (RFC 6125 §6.4.4). Non-ASCII values are dropped: names are
    compared in A-label form.
    """
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = list(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        # Malformed extensions: no presented SAN names can be trusted.
        names = []
    if not names:
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = attr.value
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            names.append(value)
    result = []
    for name in names:
        if name.isascii():
            result.append(name.strip().rstrip(".").lower())
    return [n for n in result if n]


def name_matches(reference: str, presented: str) -> bool:
    """Whether a reference identifier matches one presented name.

    A wildcard is accepted only as the complete left-most label and matches
    exactly one non-empty label; it needs at least two labels after it
    (RFC 7672 §3.2.3, RFC 6125 §6.4.3).
    """
    ref = reference.rstrip(".").lower()
    pat = presented.rstrip(".").lower()
    if not ref or not pat:
        return False
    if pat.startswith("*."):
        rest = pat[2:]
        if "*" in rest or "." not in rest:
            return False
        first, dot, remainder = ref.partition(".")
        return bool(first) and bool(dot) and remainder == rest
    return "*" not in pat and ref == pat


def matching_name(cert: x509.Certificate, allowed: Sequence[str] | Iterable[str]) -> str | None:
    """The first allowed name the certificate is valid for, or None."""
    presented = presented_names(cert)
    for ref in allowed:
        if any(name_matches(ref, p) for p in presented):
            return ref
    return None
