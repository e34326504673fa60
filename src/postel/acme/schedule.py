"""When to renew, and how long to wait after a failure (pure functions)."""

from __future__ import annotations

import datetime as dt
import random

from cryptography import x509

RENEW_AT = 2 / 3  # of the lifetime (Let's Encrypt's advice for 90-day certificates)
JITTER = 0.05  # renewals spread over the 5% of the lifetime before that point


def renewal_time(
    not_before: dt.datetime,
    not_after: dt.datetime,
    rng: random.Random,
    ari_time: dt.datetime | None = None,
) -> dt.datetime:
    """The time to order a new certificate: *ari_time* when the CA suggested a
    window (RFC 9773 §4.2, already a random point in it), else at two thirds of
    the lifetime, a little earlier at random so many servers do not renew at once."""
    if ari_time is not None:
        return ari_time
    lifetime = not_after - not_before
    return not_before + lifetime * RENEW_AT - lifetime * (JITTER * rng.random())


def retry_delay(failures: int, lo: float, hi: float, rng: random.Random) -> float:
    """Seconds to wait after the *failures*-th failure in a row (1, 2, ...):
    doubling from *lo* up to *hi*, each time 75 to 100% of it at random."""
    base = min(hi, lo * float(2 ** max(0, failures - 1)))
    return base * (0.75 + 0.25 * rng.random())


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {n.lower() for n in san.get_values_for_type(x509.DNSName)}


def needs_order(
    cert: x509.Certificate | None, names: list[str], now: dt.datetime, renew_at: dt.datetime
) -> str | None:
    """Why a new certificate is needed now, or None."""
    if cert is None:
        return "no certificate"
    if is_self_signed(cert):
        return "self-signed placeholder"
    missing = set(names) - cert_names(cert)
    if missing:
        return "names missing: " + ", ".join(sorted(missing))
    if now >= renew_at:
        return "renewal due"
    return None
