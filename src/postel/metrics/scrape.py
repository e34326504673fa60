"""The exposition for one scrape: the processes' files summed, plus values the
main process computes at scrape time (queue size, certificate expiry).

Run off the event loop: it reads files and the queue database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# (listener, certificate file, expiry as Unix time)
CertExpiry = tuple[str, str, float]


@dataclass(frozen=True)
class LiveSources:
    """Where scrape-time values come from; None: not available in this instance."""

    queue_counts: Callable[[], tuple[int, int]] | None = None  # (entries, held)
    certificates: Callable[[], list[CertExpiry]] | None = None


class _LiveCollector(Collector):
    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        if self.sources.queue_counts is not None:
            entries, held = self.sources.queue_counts()
            yield GaugeMetricFamily(
                "postel_queue_entries",
                "Recipients of queued messages waiting for delivery (held ones included).",
                value=entries,
            )
            yield GaugeMetricFamily(
                "postel_queue_held_entries",
                "Queued recipients on hold (not delivered until released).",
                value=held,
            )
        if self.sources.certificates is not None:
            family = GaugeMetricFamily(
                "postel_certificate_expiry_timestamp_seconds",
                "When the first certificate of a listener's certificate file expires (Unix time).",
                labels=["listener", "file"],
            )
            for listener, path, expiry in self.sources.certificates():
                family.add_metric([listener, path], expiry)
            yield family


def exposition(path: Path, sources: LiveSources) -> bytes:
    """The text exposition format of every metric in *path* and of *sources*."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]
    registry.register(_LiveCollector(sources))
    return generate_latest(registry)
