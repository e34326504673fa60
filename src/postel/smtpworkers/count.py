"""How many SMTP processes `postel serve` runs."""

from __future__ import annotations

import os

MAX_AUTO = 4


def worker_count(configured: int, cpus: int | None = None) -> int:
    """``[limits] smtp_workers``: 0 is automatic (CPUs, at most 4); 1 means the
    main process serves SMTP itself; more are worker processes."""
    if configured > 0:
        return configured
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(n, MAX_AUTO))
