"""Pure pieces of bench/run-all: the order of alternating runs, medians of
repeated runs, and BENCHMARKS.md put together from the sections run-all
generates and the hand-written ones it keeps (bench/sections/*.md).

No I/O but reading the kept sections; tests/bench checks these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Under the first heading of each kept section, in BENCHMARKS.md.
KEPT_NOTE = (
    "_Not measured by `bench/run-all`: kept as written in {path}; its figures "
    "come from the run, commit and command it names._"
)


class KeptSectionError(ValueError):
    """A kept section's file is empty or does not start with a heading."""


def alternating_order(rounds: int, first: str = "postel", second: str = "postfix") -> list[str]:
    """Which system runs when, over *rounds* rounds of one run each:
    first, second, then second, first, and so on (P F F P P F), so neither
    system always runs right after the other (on a receiver it warmed, or in
    a quieter moment of a shared machine)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    order: list[str] = []
    for r in range(rounds):
        order += [first, second] if r % 2 == 0 else [second, first]
    return order


def median(values: Sequence[float]) -> float:
    """The middle value; the mean of the two middle ones for an even count."""
    if not values:
        raise ValueError("median of no values")
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def median_rate(runs: Sequence[Mapping[str, Any]]) -> float | None:
    """Median "rate" of the runs that have one (a run that did not finish
    has an "error" instead); None when no run finished."""
    rates = [float(r["rate"]) for r in runs if "rate" in r]
    return round(median(rates), 1) if rates else None


def run_list(runs: Sequence[Mapping[str, Any]]) -> str:
    """Every run's rate in the order run, with the load average at its start;
    a run that did not finish shows why: `512.3 (load 2.10), no rate: queue
    not empty after 120s (3 left) (load 3.00)`."""
    shown = []
    for r in runs:
        rate = f"{r['rate']}" if "rate" in r else f"no rate: {r.get('error', 'unknown')}"
        load = r.get("load")
        shown.append(f"{rate} (load {load:.2f})" if load is not None else rate)
    return ", ".join(shown)


def ratio(a: float | None, b: float | None) -> str:
    """a / b to two places, "-" when either is missing or b is zero."""
    if a is None or b is None or not b or a != a or b != b:  # NaN != NaN
        return "-"
    return f"{a / b:.2f}"


def fraction(value: float | None) -> str:
    """A ratio already computed, to two places; "-" when missing."""
    return "-" if value is None else f"{value:.2f}"


def load_average() -> float:
    """The 1-minute load average now."""
    return round(os.getloadavg()[0], 2)


def kept_section(path: Path, shown_as: str) -> list[str]:
    """The lines of a kept section: its heading, a line saying it is kept
    and where from, then the rest verbatim."""
    lines = path.read_text().rstrip("\n").split("\n")
    if not lines[0].startswith("#"):
        raise KeptSectionError(f"{path}: a kept section starts with a Markdown heading")
    body = lines[1:]
    if body and body[0] == "":
        body = body[1:]
    return [lines[0], "", KEPT_NOTE.format(path=shown_as), "", *body]


def assemble(parts: Sequence[Sequence[str] | Path], root: Path) -> str:
    """The document: each part is either generated lines or the path of a
    kept section (shown relative to *root*); parts are separated by one
    blank line, and the text ends with one newline."""
    blocks: list[str] = []
    for part in parts:
        if isinstance(part, Path):
            lines = kept_section(part, part.resolve().relative_to(root.resolve()).as_posix())
        else:
            lines = list(part)
        text = "\n".join(lines).strip("\n")
        if text:
            blocks.append(text)
    return "\n\n".join(blocks) + "\n"
