"""The "fuzz" hypothesis profile (many more examples), chosen by `make fuzz` with
HYPOTHESIS_PROFILE=fuzz. Without it the fuzz tests run hypothesis's default
number of examples as part of `make test`; no global setting is changed then."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
