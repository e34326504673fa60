"""Find the line of a TOML key path, for error messages.

tomllib gives values without positions, so we scan the text: table headers
(``[a.b]``, ``[[a]]``) set the current path, ``key = value`` lines add to it.
The deepest match of the wanted path wins; failing that, its nearest parent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_keys(text: str) -> list[str] | None:
    """Split a dotted TOML key (bare or quoted parts) into its parts."""
    keys: list[str] = []
    i = 0
    text = text.strip()
    while i < len(text):
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            break
        if text[i] in "\"'":
            q = text[i]
            j = text.find(q, i + 1)
            if j < 0:
                return None
            keys.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _BARE.match(text, i)
            if not m:
                return None
            keys.append(m.group(0))
            i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text):
            if text[i] != ".":
                return None
            i += 1
    return keys


def key_lines(source: str) -> list[tuple[tuple[str, ...], int]]:
    """Every key path defined in *source* with its 1-based line number."""
    out: list[tuple[tuple[str, ...], int]] = []
    table: list[str] = []
    for lineno, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            inner = line.strip("[]").split("#")[0].strip().rstrip("]")
            keys = _split_keys(inner)
            if keys is not None:
                table = keys
                out.append((tuple(table), lineno))
            continue
        if "=" in line:
            keys = _split_keys(line.split("=", 1)[0])
            if keys:
                out.append((tuple(table + keys), lineno))
    return out


def find_line(source: str, path: Sequence[str | int]) -> int | None:
    """Line defining *path* (or its closest defined parent)."""
    want = tuple(str(p) for p in path if not isinstance(p, int))
    entries = key_lines(source)
    best: tuple[int, int] | None = None  # (matched length, line)
    for keys, lineno in entries:
        n = 0
        while n < len(keys) and n < len(want) and keys[n] == want[n]:
            n += 1
        if n == len(keys) and (best is None or n > best[0]):
            best = (n, lineno)
    if best is None or best[0] == 0:
        return None
    return best[1]
