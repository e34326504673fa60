"""Fixtures of the delivery unit tests (helpers in delivery_fakes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from delivery_fakes import env  # noqa: F401
