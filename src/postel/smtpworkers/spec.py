"""What the main process tells a worker it starts (argv[1], JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Spec:
    config: str
    index: int
    parent: int
    ports: list[tuple[str, str, str, int]]  # (listener, kind, ip, port)
    log_time: bool = True

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> Spec:
        raw = json.loads(text)
        raw["ports"] = [tuple(p) for p in raw["ports"]]
        return cls(**raw)
