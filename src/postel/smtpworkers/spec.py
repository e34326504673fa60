"""What the main process tells a worker it starts (argv[1], JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Spec:
    config: str
    index: int
    parent: int
    ports: list[tuple[str, str, str, int]]  # (listener, kind, ip, port)
    log_time: bool = True
    # Listening sockets inherited from the main process, which bound them before
    # switching to an unprivileged user: (listener, kind, ip, fd). Empty: the
    # worker listens on *ports* itself with SO_REUSEPORT.
    fds: list[tuple[str, str, str, int]] = field(default_factory=list)

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> Spec:
        raw = json.loads(text)
        raw["ports"] = [tuple(p) for p in raw["ports"]]
        raw["fds"] = [tuple(f) for f in raw.get("fds", [])]
        return cls(**raw)
