"""When to renew, and how long to wait after a failure (pure functions)."""

from __future__ import annotations

import datetime as dt
import random

from cryptography import x509

RENEW_AT = 2 / 3  # of the lifetime (Let's Encrypt's advice for 90-day certificates)
JITTER = 0.05  # renewals spread over the 5% of the lifetime before that point
# An ARI time is kept after ARI_FLOOR of the lifetime (at most ARI_FLOOR_MAX)
# from issuance, and before the last ARI_MARGIN of it.
ARI_FLOOR = 0.1
ARI_FLOOR_MAX = dt.timedelta(hours=1)
ARI_MARGIN = 0.1


def renewal_time(
    not_before: dt.datetime,
    not_after: dt.datetime,
    rng: random.Random,
    ari_time: dt.datetime | None = None,
) -> dt.datetime:
    """The time to order a new certificate: *ari_time* when the CA suggested a
    window (RFC 9773 §4.2, already a random point in it), kept inside the
    certificate's life; else at two thirds of the lifetime, a little earlier at
    random so many servers do not renew at once."""
    lifetime = not_after - not_before
    if ari_time is not None:
        # RFC 9773 leaves the window to the CA. One that ends after the expiry
        # would let the certificate lapse; one that starts before the issuance
        # would renew a new certificate at once, and again its successor.
        earliest = not_before + min(lifetime * ARI_FLOOR, ARI_FLOOR_MAX)
        latest = not_after - lifetime * ARI_MARGIN
        return min(max(ari_time, earliest), latest)
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
