"""Literals of a command (RFC 9051 §4.3): kept in memory when small, else in a file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpilledLiteral:
    """A literal written to a fsynced file (an APPEND message); the reader removes it."""

    path: Path
    size: int

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# A command as read: line text (without the "{n}" marker and CRLF) and literals.
Part = bytes | SpilledLiteral
