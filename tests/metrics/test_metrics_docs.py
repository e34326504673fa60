"""docs/metrics.md lists every metric; the example alert rules and the Grafana
dashboard parse and use only metrics postel exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from postel.metrics.definitions import Metrics
from postel.metrics.scrape import LiveSources, _LiveCollector

DOCS = Path(__file__).resolve().parents[2] / "docs"
NAME = re.compile(r"\bpostel_[a-z_]+\b")


def families() -> dict[str, set[str]]:
    """Every metric family postel exposes -> the sample names it has."""
    out: dict[str, set[str]] = {}
    metrics = [m for m in vars(Metrics()).values() if isinstance(m, MetricWrapperBase)]
    assert len(metrics) >= 15
    for metric in metrics:
        [family] = metric.describe()
        if isinstance(metric, Counter):
            out[family.name] = {family.name + "_total"}
        elif isinstance(metric, Histogram):
            out[family.name] = {family.name + s for s in ("_bucket", "_sum", "_count")}
        else:
            out[family.name] = {family.name}
    live = _LiveCollector(LiveSources(queue_counts=lambda: (0, 0), certificates=lambda: []))
    for family in live.collect():
        out[family.name] = {family.name}
    return out


def exposed() -> set[str]:
    return set().union(*families().values())


def test_every_metric_is_documented() -> None:
    text = (DOCS / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(postel_[a-z_]+)` \|", text, re.M))
    expected = {
        name + "_total" if samples == {name + "_total"} else name
        for name, samples in families().items()
    }
    assert documented == expected


def test_alert_rules_parse_and_use_existing_metrics() -> None:
    doc = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert len(rules) >= 8
    names = exposed()
    for rule in rules:
        assert rule["alert"].startswith("Postel") and rule["labels"]["severity"]
        used = set(NAME.findall(rule["expr"]))
        assert used <= names, (rule["alert"], used - names)
        assert used or "up{" in rule["expr"], rule["alert"]


def test_grafana_dashboard_is_json_with_existing_metrics() -> None:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    panels = dash["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    names = exposed()
    used: set[str] = set()
    for panel in panels:
        for target in panel["targets"]:
            found = set(NAME.findall(target["expr"]))
            assert found and found <= names, (panel["title"], found - names)
            used |= found
    # Every family has a panel.
    assert {n for n, samples in families().items() if samples & used} == set(families())


def test_grafana_dashboard_shows_imap_commands() -> None:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    imap = [e for e in exprs if 'protocol=~"imap|imaps"' in e]
    assert any("postel_command_duration_seconds_bucket" in e for e in imap)
    assert any("postel_command_duration_seconds_count" in e and "result" in e for e in imap)
    # The SMTP panel keeps to SMTP.
    smtp = [e for e in exprs if "smtp|submission|submissions" in e]
    assert smtp and all("imap" not in e for e in smtp)
