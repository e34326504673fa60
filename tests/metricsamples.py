"""Helpers of every test that reads metrics: the samples of an exposition, or
of this process's metrics directory (the metrics_dir fixture of conftest.py)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from postel.metrics.scrape import LiveSources, exposition

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str | bytes) -> Samples:
    """Every sample of an exposition: (sample name, labels) -> value."""
    if isinstance(text, bytes):
        text = text.decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    """The sample *name* with exactly *labels*; 0 when absent."""
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples *name* whose labels include *labels*."""
    want = set(labels.items())
    return sum(v for (n, lab), v in found.items() if n == name and want <= lab)


def scrape(path: Path) -> Samples:
    """Every sample of the metrics written to *path* by this process."""
    return samples(exposition(path, LiveSources()))
