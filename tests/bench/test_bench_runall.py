"""bench/run-all's own logic: the order of alternating runs, medians, and
BENCHMARKS.md put together so that what run-all does not measure is kept."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import runall_doc  # noqa: E402


def load_run_all() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bench_run_all", str(BENCH / "run-all"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_alternating_order_swaps_who_goes_first_each_round() -> None:
    assert runall_doc.alternating_order(3) == [
        "postel",
        "postfix",
        "postfix",
        "postel",
        "postel",
        "postfix",
    ]
    assert runall_doc.alternating_order(1) == ["postel", "postfix"]
    assert runall_doc.alternating_order(2, "a", "b") == ["a", "b", "b", "a"]


def test_alternating_order_needs_a_round() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        runall_doc.alternating_order(0)


def test_median() -> None:
    assert runall_doc.median([3.0, 1.0, 2.0]) == 2.0
    assert runall_doc.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert runall_doc.median([7.0]) == 7.0
    with pytest.raises(ValueError):
        runall_doc.median([])


def test_median_rate_leaves_out_runs_that_did_not_finish() -> None:
    runs = [{"rate": 100.0}, {"error": "queue not empty after 120s (3 left)"}, {"rate": 300.0}]
    assert runall_doc.median_rate(runs) == 200.0
    assert runall_doc.median_rate([{"error": "x"}]) is None


def test_run_list_shows_every_run_in_order_with_its_load() -> None:
    runs = [{"rate": 512.3, "load": 2.1}, {"error": "stuck", "load": 3.0}, {"rate": 9.0}]
    assert runall_doc.run_list(runs) == "512.3 (load 2.10), no rate: stuck (load 3.00), 9.0"


def test_fraction() -> None:
    assert runall_doc.fraction(0.8) == "0.80"
    assert runall_doc.fraction(None) == "-"


def test_ratio() -> None:
    assert runall_doc.ratio(3.0, 2.0) == "1.50"
    assert runall_doc.ratio(None, 2.0) == "-"
    assert runall_doc.ratio(1.0, 0.0) == "-"
    assert runall_doc.ratio(float("nan"), 1.0) == "-"


def test_kept_section_says_where_it_comes_from_and_keeps_the_rest(tmp_path: Path) -> None:
    section = tmp_path / "x.md"
    section.write_text("## (x) A section\n\nline one\n\n| a | b |\n\n")
    assert runall_doc.kept_section(section, "bench/sections/x.md") == [
        "## (x) A section",
        "",
        runall_doc.KEPT_NOTE.format(path="bench/sections/x.md"),
        "",
        "line one",
        "",
        "| a | b |",
    ]


def test_kept_section_must_start_with_a_heading(tmp_path: Path) -> None:
    section = tmp_path / "x.md"
    section.write_text("no heading\n")
    with pytest.raises(runall_doc.KeptSectionError, match=r"x\.md"):
        runall_doc.kept_section(section, "x.md")


def test_assemble_puts_parts_in_order_with_one_blank_line(tmp_path: Path) -> None:
    (tmp_path / "sections").mkdir()
    kept = tmp_path / "sections" / "k.md"
    kept.write_text("## (k) Kept\n\nbody\n")
    text = runall_doc.assemble([["# Title", ""], kept, ["## (z) Generated", "", "x", ""]], tmp_path)
    note = runall_doc.KEPT_NOTE.format(path="sections/k.md")
    assert text == f"# Title\n\n## (k) Kept\n\n{note}\n\nbody\n\n## (z) Generated\n\nx\n"


def fake_results() -> dict[str, Any]:
    """Results of the shape run-all's benches return, with made-up figures."""
    run = {"rate": 1.0, "load": 1.0, "p99_ms": 1.0, "cpu_ms": 1.0}
    outbound = {
        "messages": 20,
        "destinations": 10,
        "rounds": 1,
        "certificate": "ECDSA secp256r1",
        "cells": [
            {
                "tls": tls,
                "receiver": "r",
                "postel_runs": [run],
                "postfix_runs": [run],
                "postel_median": 1.0,
                "postfix_median": 1.0,
            }
            for tls in (False, True)
        ],
    }
    junk_cfg = {
        "median_rate": 1.0,
        "rates": [1.0],
        "median_cpu_ms": 1.0,
        "runs": [run],
        "rate_ratio": 1.0,
        "cpu_ratio": 1.0,
    }
    side = {
        "processes": 1,
        "pss_idle_mib": 1.0,
        "pss_mib": 1.0,
        "rss_mib": 1.0,
        "pss_per_conn_kib": 1.0,
        "connections": 1,
    }
    return {
        "date": "2026-01-01 00:00 UTC",
        "seconds": 1.0,
        "load_start": 1.0,
        "load_end": 2.0,
        "inbound": {
            "cells": [],
            "seconds": 1.0,
            "postel_acked": 1,
            "postel_stored": 1,
            "commands": {"smtp-source": "s", "loadclient": "l"},
        },
        "outbound": [outbound, {**outbound, "destinations": 1000}],
        "memory": {"postel": side, "postfix": side},
        "tlsrpt": {
            "results": 1,
            "domains": 1,
            "record_per_result_ms": 1.0,
            "record_rate": 1.0,
            "merge_seconds": 1.0,
            "merge_rate": 1.0,
            "rows": 1,
            "store_rows_seconds": 1.0,
            "reports": 1,
            "keys": 1,
            "build_seconds": 1.0,
        },
        "backup": {
            "messages": 1,
            "size": "1M",
            "backup_ratio_to_cp": 1.0,
            "verifydata_ratio_to_cp": 1.0,
            "backup": {"seconds": 1.0, "command": "b"},
            "verifydata": {"seconds": 1.0, "command": "v"},
            "cp": {"seconds": 1.0, "command": "c"},
        },
        "junk": {
            "clients": 10,
            "seconds": 1.0,
            "repeat": 1,
            "synthetic": False,
            "trained_on": 1813,
            "off": junk_cfg,
            "untrained": junk_cfg,
            "trained": junk_cfg,
        },
    }


def block(text: str, first: str, stop_level: int) -> str:
    """From the heading line *first* up to the next heading of level
    *stop_level* or higher (fewer #) after it."""
    lines = text.split("\n")
    start = lines.index(first)
    for end in range(start + 1, len(lines)):
        level = len(lines[end]) - len(lines[end].lstrip("#"))
        if 0 < level <= stop_level and lines[end][level : level + 1] == " ":
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> str:
    run_all = load_run_all()
    out = tmp_path_factory.mktemp("runall") / "BENCHMARKS.md"
    run_all.write_markdown(out, {"postel": "abc1234", "postfix": "3.7"}, fake_results(), False)
    return out.read_text()


def test_run_all_keeps_every_heading_of_benchmarks_md_in_order(written: str) -> None:
    def headings(text: str) -> list[str]:
        return [line for line in text.split("\n") if line.startswith("## ")]

    kept = headings((REPO / "BENCHMARKS.md").read_text())
    got = headings(written)
    assert [h for h in got if h in kept] == kept


@pytest.mark.parametrize(
    ("heading", "level"),
    [
        ("### (b) outbound, issue 21 (branch outbound2)", 2),
        ("## (f) Full-text search of one account (issue 22, item 2)", 2),
        ("## (g) The threaded message list of one mailbox (issue 22, item 3)", 2),
        ("## (h) Junk filter: false positives, false negatives and cost (issue 23, item 5)", 2),
        ("## (i) IMAP against Dovecot (issue 17)", 2),
        ("## (j) PostgreSQL store: local delivery into one node (issue 24, first slice)", 2),
        ("## (k) Scale (issue 21, item 4)", 2),
        ("## (l) Several nodes on one PostgreSQL (issue 24)", 2),
    ],
)
def test_run_all_reproduces_the_kept_sections_of_benchmarks_md(
    written: str, heading: str, level: int
) -> None:
    assert block(written, heading, level) == block(
        (REPO / "BENCHMARKS.md").read_text(), heading, level
    )


def test_run_all_ends_with_the_notes(written: str) -> None:
    notes = (BENCH / "NOTES.md").read_text().rstrip("\n")
    assert written.endswith("\n\n" + notes + "\n")
    assert (REPO / "BENCHMARKS.md").read_text().endswith("\n\n" + notes + "\n"), (
        "BENCHMARKS.md does not end with bench/NOTES.md: run `bench/run-all --assemble`"
    )


def test_run_all_header_names_commit_and_load(written: str) -> None:
    head = written.split("## (a)")[0]
    assert "at commit abc1234" in head
    assert "1.00 at the start and 2.00 at the end" in head


def test_every_file_in_bench_sections_is_kept_by_run_all() -> None:
    run_all = load_run_all()
    listed = {p.name for p in (*run_all.KEPT_AFTER_B, *run_all.KEPT_AFTER_E)}
    assert listed == {p.name for p in (BENCH / "sections").glob("*.md")}


def test_outbound_measure_times_what_it_saw_leave() -> None:
    import outbound

    left = iter([10, 10, 6, 3, 0])
    res = outbound.measure(lambda: next(left), 10, timeout=5)
    assert res["messages"] == 10
    assert res["rate"] > 0


def test_outbound_measure_of_a_queue_gone_at_once_is_no_rate() -> None:
    import outbound

    left = iter([10, 0])
    res = outbound.measure(lambda: next(left), 10, timeout=5)
    assert "rate" not in res
    assert "between two polls" in res["error"]


def junk_results(base: bool) -> dict[str, Any]:
    """(m)'s results as inbound_junk.run returns them, with or without --base."""
    names = ["base", "off", "untrained", "trained"] if base else ["off", "untrained", "trained"]
    out: dict[str, Any] = {
        "clients": 10,
        "seconds": 3.0,
        "repeat": 3,
        "synthetic": False,
        "trained_on": 1813,
        "order": "rotated",
        "slices": [[0, 1058], [1058, 2116], [2116, 3174], [3174, 4233]],
    }
    for i, name in enumerate(names):
        rate, cpu = 400.0 - 50 * i, 4.0 + i
        cfg: dict[str, Any] = {
            "median_rate": rate,
            "rates": [rate],
            "median_cpu_ms": cpu,
            "runs": [{"rate": rate, "cpu_ms": cpu, "p99_ms": 50.0, "load": 1.5}],
            "rate_ratio": round(rate / 350.0, 2) if base else round(rate / 400.0, 2),
            "cpu_ratio": 1.0,
        }
        if base:
            cfg["rate_ratio_base"] = round(rate / 400.0, 2)
            cfg["cpu_ratio_base"] = round(cpu / 4.0, 2)
        out[name] = cfg
    if base:
        out["base_rev"] = "320e638"
    return out


def test_junk_section_has_a_base_row_and_ratios_to_it() -> None:
    md = load_run_all().junk_section(junk_results(base=True))
    text = "\n".join(md)
    assert "postel at commit 320e638 (the commit before the junk filter's first" in text
    assert "its own slice of about 1,058 of those messages" in text
    header = next(line for line in md if line.startswith("| junk filter"))
    assert header.count("| of base |") == 2
    rows = [line for line in md if line.startswith("| ") and line != header]
    assert [r.split(" | ")[0] for r in rows] == [
        "| none (postel at 320e638)",
        "| off",
        "| untrained",
        "| trained",
    ]
    # trained: 250 msg/s, 0.71 of off, 0.62 of base; 7 ms, 1.00 of off, 1.75 of base
    assert rows[3].startswith("| trained | 250.0 | 0.71 | 0.62 | 7.0 | 1.00 | 1.75 | 50.0 |")
    widths = {line.count("|") for line in md if line.startswith("|")}
    assert widths == {10}


def test_junk_section_of_results_without_a_base_keeps_its_columns() -> None:
    """bench/results.json entries written before --base still assemble."""
    md = load_run_all().junk_section(fake_results()["junk"])
    text = "\n".join(md)
    assert "of base" not in text
    assert "three `postel serve` side by side" in text
    assert "its own slice" not in text
    widths = {line.count("|") for line in md if line.startswith("|")}
    assert widths == {8}
