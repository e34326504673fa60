"""bench/inbound_junk.py's rounds: each round its own corpus slice, the
servers' order rotated, medians and ratios to "off" and to the base
server; and the base server's source tree taken from git."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import junk_rounds  # noqa: E402


def test_slices_cover_every_message_once_in_order() -> None:
    bounds = junk_rounds.slice_bounds(4233, 4)
    assert bounds == [(0, 1058), (1058, 2116), (2116, 3174), (3174, 4233)]
    covered = [i for lo, hi in bounds for i in range(lo, hi)]
    assert covered == list(range(4233))


def test_no_two_rounds_share_a_message() -> None:
    for messages, rounds in ((10, 3), (7, 7), (4233, 2), (100, 1)):
        seen: set[int] = set()
        for lo, hi in junk_rounds.slice_bounds(messages, rounds):
            assert hi > lo
            assert seen.isdisjoint(range(lo, hi))
            seen.update(range(lo, hi))
        assert len(seen) == messages


def test_slices_need_a_round_and_a_message_per_round() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        junk_rounds.slice_bounds(10, 0)
    with pytest.raises(ValueError, match="3 messages cannot give 4 rounds"):
        junk_rounds.slice_bounds(3, 4)


def test_round_order_rotates_by_one_each_round() -> None:
    names = ["base", "off", "untrained", "trained"]
    assert junk_rounds.round_order(names, 0) == names
    assert junk_rounds.round_order(names, 1) == ["off", "untrained", "trained", "base"]
    assert junk_rounds.round_order(names, 4) == names
    firsts = {junk_rounds.round_order(names, r)[0] for r in range(4)}
    assert firsts == set(names)
    assert junk_rounds.round_order([], 3) == []


def runs(*pairs: tuple[float, float]) -> list[dict[str, float]]:
    return [{"rate": rate, "cpu_ms": cpu, "load": 1.0} for rate, cpu in pairs]


def test_summary_medians_and_ratios_to_off() -> None:
    out = junk_rounds.summarize(
        {
            "off": runs((300.0, 4.0), (330.0, 5.0), (310.0, 4.5)),
            "trained": runs((200.0, 7.0), (210.0, 6.5), (150.0, 9.0), (220.0, 6.0)),
        },
        ["off"],
    )
    assert out["off"]["median_rate"] == 310.0
    assert out["off"]["median_cpu_ms"] == 4.5
    assert out["off"]["rates"] == [300.0, 330.0, 310.0]
    assert out["off"]["rate_ratio"] == 1.0
    assert out["trained"]["median_rate"] == 205.0  # even count: mean of the middle two
    assert out["trained"]["median_cpu_ms"] == 6.75
    assert out["trained"]["rate_ratio"] == round(205.0 / 310.0, 2)
    assert out["trained"]["cpu_ratio"] == 1.5
    assert len(out["trained"]["runs"]) == 4
    assert "rate_ratio_base" not in out["trained"]


def test_summary_ratios_to_the_base_server_too() -> None:
    out = junk_rounds.summarize(
        {
            "base": runs((400.0, 4.0)),
            "off": runs((320.0, 5.0)),
            "trained": runs((200.0, 8.0)),
        },
        ["off", "base"],
    )
    assert out["trained"]["rate_ratio"] == 0.62
    assert out["trained"]["rate_ratio_base"] == 0.5
    assert out["trained"]["cpu_ratio"] == 1.6
    assert out["trained"]["cpu_ratio_base"] == 2.0
    assert out["off"]["rate_ratio_base"] == 0.8
    assert out["base"]["rate_ratio_base"] == 1.0
    assert out["base"]["rate_ratio"] == 1.25


def test_summary_ratio_to_a_zero_median_is_none() -> None:
    out = junk_rounds.summarize({"off": runs((0.0, 0.0)), "x": runs((5.0, 1.0))}, ["off"])
    assert out["x"]["rate_ratio"] is None
    assert out["x"]["cpu_ratio"] is None


def test_base_tree_is_the_revision_with_its_own_postel(tmp_path: Path) -> None:
    import inbound_junk

    short, src = inbound_junk.base_tree("HEAD", tmp_path / "tree")
    want = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert short == want
    assert src == tmp_path / "tree" / "src"
    assert (src / "postel" / "__init__.py").is_file()
    assert not (tmp_path / "tree.tar").exists()


def test_base_tree_of_an_unknown_revision_says_which(tmp_path: Path) -> None:
    import inbound_junk

    with pytest.raises(inbound_junk.BaseTreeError, match="--base no-such-rev: not a commit"):
        inbound_junk.base_tree("no-such-rev", tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
