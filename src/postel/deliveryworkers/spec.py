"""What the main process tells a delivery worker it starts (argv[1], JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Spec:
    config: str  # the configuration directory
    index: int  # 1 .. count: the worker's number (and its log cid slot)
    parent: int  # the main process's pid
    log_time: bool = True

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> Spec:
        raw = json.loads(text)
        return cls(
            config=str(raw["config"]),
            index=int(raw["index"]),
            parent=int(raw["parent"]),
            log_time=bool(raw.get("log_time", True)),
        )
