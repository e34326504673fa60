"""When postel.acme renews and how long it waits after failures."""

from __future__ import annotations

import datetime as dt
import random

from postel.acme.schedule import needs_order, renewal_time, retry_delay
from postel.hostkeys import generate_key, self_signed_cert

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_renewal_at_two_thirds_with_jitter_before() -> None:
    rng = random.Random(1)
    times = [renewal_time(T0, T0 + 90 * DAY, rng) for _ in range(200)]
    assert all(T0 + 55.5 * DAY <= t <= T0 + 60 * DAY for t in times)
    assert len(set(times)) > 100  # spread, not one instant


def test_ari_window_wins() -> None:
    ari = T0 + 30 * DAY
    assert renewal_time(T0, T0 + 90 * DAY, random.Random(1), ari_time=ari) == ari


def test_ari_time_kept_inside_the_certificate_life() -> None:
    """A CA window that ends after the expiry, or starts before the issuance
    (pebble's is two days wide), never lets the certificate lapse nor renews it
    at once (RFC 9773 §4.2 leaves the window to the CA)."""
    rng = random.Random(1)
    end = T0 + 90 * DAY
    assert renewal_time(T0, end, rng, ari_time=end + DAY) == end - 9 * DAY
    assert renewal_time(T0, end, rng, ari_time=T0 - DAY) == T0 + dt.timedelta(hours=1)
    # A one-hour certificate: the floor is a tenth of its life.
    hour = dt.timedelta(hours=1)
    assert renewal_time(T0, T0 + hour, rng, ari_time=T0) == T0 + hour / 10
    # An incident window in the past still renews at once (after the floor).
    past = T0 + 10 * DAY
    assert renewal_time(T0, end, rng, ari_time=past) == past


def test_retry_delay_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(2)
    for failures, lo, hi in [(1, 45, 60), (2, 90, 120), (3, 180, 240), (20, 64800, 86400)]:
        d = retry_delay(failures, 60, 86400, rng)
        assert lo <= d <= hi, (failures, d)


def test_needs_order() -> None:
    key = generate_key()
    cert = self_signed_cert(key, ["mail.example.org"])
    names = ["mail.example.org"]
    now = dt.datetime.now(dt.UTC)
    assert needs_order(None, names, now, now) == "no certificate"
    assert needs_order(cert, names, now, now + DAY) == "self-signed placeholder"
