"""`postel dmarc send` and `postel dmarc suppress add/list/remove`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from dmarcsend_data import STATIC, ev

from postel.cli.main import cli
from postel.config import load_config
from postel.dmarcevaldb import EvalDB
from postel.dns.mock import MockResolver


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_send_dry_run_prints_reports_and_changes_nothing(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    with EvalDB.open(cfg.datadir.dmarceval_db) as db:
        db.add([ev(), ev(ip="192.0.2.8"), ev("gone.example")])
    resolver = MockResolver(
        {("_dmarc.sender.example", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:d@sender.example"']}
    )
    monkeypatch.setattr("postel.dns.resolver.DNSResolver", lambda *a, **k: resolver)
    code, out, err = invoke(
        "dmarc", "send", "--config", str(config_dir), "--day", "2026-03-14", "--dry-run"
    )
    assert code == 0, err
    outcomes = {o["policy-domain"]: o for o in json.loads(out)}
    s = outcomes["sender.example"]
    assert s["status"] == "would-send" and s["mailto"] == ["d@sender.example"]
    assert s["report"]["report_metadata"]["org_name"] == "example.org"
    assert s["report"]["report_metadata"]["email"] == "reports@example.org"
    assert len(s["report"]["records"]) == 2
    assert outcomes["gone.example"]["status"] == "no-record"
    with EvalDB.open(cfg.datadir.dmarceval_db) as db:
        assert len(db.evaluations()) == 3


def test_send_without_evaluations(config_dir: Path) -> None:
    code, out, _ = invoke("dmarc", "send", "--config", str(config_dir), "--dry-run")
    assert code == 0 and json.loads(out) == []


def test_send_refused_when_disabled(config_dir: Path) -> None:
    (config_dir / "postel.toml").write_text(STATIC + "no_outgoing_dmarc_reports = true\n")
    code, _, err = invoke("dmarc", "send", "--config", str(config_dir))
    assert code == 1 and "disabled" in err and "Traceback" not in err


def test_suppress_add_list_remove(config_dir: Path) -> None:
    c = str(config_dir)
    code, out, _ = invoke("dmarc", "suppress", "add", "--config", c, "mailto:D@x.example")
    assert code == 0 and "suppressed d@x.example" in out
    code, out, _ = invoke("dmarc", "suppress", "list", "--config", c)
    assert code == 0 and out.startswith("d@x.example\tuntil ") and "manual" in out
    code, out, _ = invoke("dmarc", "suppress", "remove", "--config", c, "d@x.example")
    assert code == 0
    code, _, err = invoke("dmarc", "suppress", "remove", "--config", c, "d@x.example")
    assert code == 1 and "not on the suppression list" in err
