"""Where DATA goes while it arrives: memory up to a bound, then a file.

Most messages are small: keeping them in memory saves creating, reading and
unlinking a temp file per message on the event loop (BENCHMARKS.md). Past
``memory_limit`` bytes everything goes to the file at ``path``, so memory per
session stays bounded (docs/architecture.md, step 7 of a message in).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO

MEMORY_LIMIT = 1024 * 1024


class Spool:
    def __init__(self, path: Path, memory_limit: int = MEMORY_LIMIT) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self._buf: bytearray | None = bytearray()
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        if self._buf is not None:
            if len(self._buf) + len(data) <= self.memory_limit:
                self._buf += data
                return len(data)
            self._file = open(self.path, "xb")  # noqa: SIM115
            self._file.write(self._buf)
            self._buf = None
        assert self._file is not None
        return self._file.write(data)

    @property
    def in_memory(self) -> bool:
        return self._buf is not None

    def data(self) -> bytes | None:
        """The message when it stayed in memory, else None (read ``path``)."""
        return bytes(self._buf) if self._buf is not None else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def remove(self) -> None:
        self.close()
        self._buf = None
        if self._file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
