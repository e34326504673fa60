"""Strategies shared by the fuzz tests: real samples, mutated."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Applied to every fuzz test: no per-example deadline (parsers of big inputs and
# asyncio.run per example are slow on a busy machine); examples from the profile.
bounded = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"


def samples(kind: str, *suffixes: str) -> list[bytes]:
    d = TESTDATA / kind
    if not d.is_dir():
        return []
    return [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file() and p.suffix in suffixes]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few byte-level edits: flips, deletions, insertions, truncation."""
    if not seeds:
        return draw(st.binary(max_size=2000))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 16))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "truncate":
            del data[i:]
        else:
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:i] = data[i:j]
    return bytes(data)


def any_input(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), st.binary(max_size=1000))
