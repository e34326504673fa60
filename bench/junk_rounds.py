"""Pure pieces of bench/inbound_junk.py: which corpus messages each round
sends, in which order the servers are loaded, and the medians and ratios
of the runs. No I/O; tests/bench checks these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from runall_doc import median


def slice_bounds(messages: int, rounds: int) -> list[tuple[int, int]]:
    """(start, end) of each round's own slice of *messages* messages: *rounds*
    consecutive slices of (almost) equal size that cover them all, so no
    round sends a message an earlier round sent (a server's feature cache
    would have met it already)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    if messages < rounds:
        raise ValueError(f"{messages} messages cannot give {rounds} rounds a slice each")
    edges = [r * messages // rounds for r in range(rounds + 1)]
    return list(pairwise(edges))


def round_order(names: Sequence[str], rnd: int) -> list[str]:
    """The servers of round *rnd* in the order loaded: *names* rotated by
    one more each round, so that no server always runs first or right
    after the same one."""
    if not names:
        return []
    k = rnd % len(names)
    return [*names[k:], *names[:k]]


def _ratio(value: float, reference: float | None) -> float | None:
    return round(value / reference, 2) if reference else None


def summarize(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], references: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per server: the median rate (msg/s) and median CPU per message (ms)
    of its runs, every run, and both medians as a ratio to each server
    named in *references* (keys "rate_ratio" and "cpu_ratio" for the
    first, "rate_ratio_<name>" and "cpu_ratio_<name>" for the others);
    a ratio is None when the reference's median is zero."""
    out: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        out[name] = {
            "median_rate": round(median([float(r["rate"]) for r in rs]), 1),
            "rates": [r["rate"] for r in rs],
            "median_cpu_ms": round(median([float(r["cpu_ms"]) for r in rs]), 2),
            "runs": list(rs),
        }
    for i, ref in enumerate(references):
        suffix = "" if i == 0 else f"_{ref}"
        for c in out.values():
            c[f"rate_ratio{suffix}"] = _ratio(c["median_rate"], out[ref]["median_rate"])
            c[f"cpu_ratio{suffix}"] = _ratio(c["median_cpu_ms"], out[ref]["median_cpu_ms"])
    return out
