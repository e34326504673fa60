"""/healthz: is every part of the instance up? Checks are named probes that
return None when fine and one line saying what is wrong otherwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Probe = Callable[[], str | None]


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "listeners", "queue", "databases"
    probe: Probe


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    lines: list[str]

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def evaluate(checks: Sequence[Check]) -> HealthReport:
    """Run every probe; a probe that raises counts as failed (with the error)."""
    lines: list[str] = []
    ok = True
    for check in checks:
        try:
            problem = check.probe()
        except Exception as exc:  # a health check reports, it never fails itself
            problem = f"check failed: {type(exc).__name__}: {exc}"
        if problem is None:
            lines.append(f"ok {check.name}")
        else:
            ok = False
            lines.append(f"fail {check.name}: {' '.join(problem.split())}")
    return HealthReport(ok, lines)
