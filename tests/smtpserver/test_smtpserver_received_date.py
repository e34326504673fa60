"""The Received header's date-time (RFC 5322 §3.3) equals email.utils.format_datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from postel.smtpserver.received import date_time

ZONES = st.one_of(
    st.just(UTC),
    st.none(),
    st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    st.just(timezone(timedelta(seconds=3601))),
)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), ZONES)
def test_date_time_matches_format_datetime(when: datetime, zone: timezone | None) -> None:
    when = when.replace(tzinfo=zone)
    assert date_time(when) == format_datetime(when)


def test_date_time_utc_example() -> None:
    when = datetime(2026, 11, 26, 4, 0, 7, 123456, tzinfo=UTC)
    assert date_time(when) == "Thu, 26 Nov 2026 04:00:07 +0000"
