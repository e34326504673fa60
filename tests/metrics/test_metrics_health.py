"""/healthz checks: every probe runs, a failing or raising one fails the whole."""

from __future__ import annotations

from postel.metrics.health import Check, evaluate


def test_all_ok() -> None:
    report = evaluate([Check("a", lambda: None), Check("b", lambda: None)])
    assert report.ok
    assert report.text() == "ok a\nok b\n"


def test_a_failing_and_a_raising_probe() -> None:
    def boom() -> str | None:
        raise OSError("disk I/O error")

    report = evaluate(
        [
            Check("a", lambda: "2 of 3 SMTP workers\nare up"),
            Check("b", boom),
            Check("c", lambda: None),
        ]
    )
    assert not report.ok
    assert report.lines == [
        "fail a: 2 of 3 SMTP workers are up",
        "fail b: check failed: OSError: disk I/O error",
        "ok c",
    ]
