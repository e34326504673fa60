"""Prometheus metrics (prometheus_client, multiprocess mode) and /healthz.

definitions.py names every metric; runtime.py turns metrics on for a process
(the directory the processes share, data/metrics/); record.py holds the small
typed functions the rest of postel records through (no-ops while metrics are
off); labels.py maps outcomes to label values; scrape.py builds the exposition;
health.py the health checks; listener.py serves both over HTTP (docs/metrics.md).
"""

from __future__ import annotations
