"""`postel tlsrpt send` and `postel tlsrpt suppress add/list/remove`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tlsrptsend_data import STATIC, record_day

from postel.cli.main import cli
from postel.config import load_config
from postel.dns.mock import MockResolver
from postel.tlsrptresultdb import ResultDB


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_suppress_add_list_remove(config_dir: Path) -> None:
    c = str(config_dir)
    code, out, _ = invoke(
        "tlsrpt",
        "suppress",
        "add",
        "--config",
        c,
        "mailto:TLS@a.example",
        "--days",
        "7",
        "--comment",
        "asked us to stop",
    )
    assert code == 0 and "suppressed tls@a.example" in out
    code, out, _ = invoke("tlsrpt", "suppress", "add", "--config", c, "https://r.example/x")
    assert code == 0
    code, out, _ = invoke("tlsrpt", "suppress", "list", "--config", c, "--json")
    items = json.loads(out)
    assert [(i["address"], i["comment"], i["manual"]) for i in items] == [
        ("https://r.example/x", "", True),
        ("tls@a.example", "asked us to stop", True),
    ]
    code, out, _ = invoke("tlsrpt", "suppress", "list", "--config", c)
    assert "tls@a.example\tuntil " in out and "manual\tasked us to stop" in out
    code, out, _ = invoke("tlsrpt", "suppress", "remove", "--config", c, "tls@a.example")
    assert code == 0 and "removed tls@a.example" in out
    code, _, err = invoke("tlsrpt", "suppress", "remove", "--config", c, "tls@a.example")
    assert code == 1 and "not on the suppression list" in err
    code, _, err = invoke("tlsrpt", "suppress", "add", "--config", c, "nonsense")
    assert code == 1 and "not an e-mail address or https URI" in err


def test_send_dry_run_prints_reports(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    db = ResultDB.open(cfg.datadir.tlsrptresult_db)
    record_day(db)
    db.close()
    resolver = MockResolver(
        {
            ("_smtp._tls.a.example", "TXT"): [
                '"v=TLSRPTv1; rua=mailto:tls@a.example,https://r.a.example/"'
            ]
        }
    )
    monkeypatch.setattr("postel.dns.resolver.DNSResolver", lambda *a, **k: resolver)
    code, out, err = invoke(
        "tlsrpt", "send", "--config", str(config_dir), "--day", "2026-03-14", "--dry-run"
    )
    assert code == 0, err
    outcomes = {o["policy-domain"]: o for o in json.loads(out)}
    a = outcomes["a.example"]
    assert a["status"] == "would-send"
    assert a["mailto"] == ["tls@a.example"] and a["https"] == ["https://r.a.example/"]
    assert a["report"]["report-id"] == "20260314.a.example@example.org"
    assert a["report"]["organization-name"] == "example.org"
    assert outcomes["c.example"]["status"] == "no-record"
    # Nothing changed.
    db = ResultDB.open(cfg.datadir.tlsrptresult_db)
    assert len(db.rows()) == 6 and not any(r.sent_to_recipient_domain for r in db.rows())
    db.close()


def test_send_without_results(config_dir: Path) -> None:
    code, out, _ = invoke("tlsrpt", "send", "--config", str(config_dir), "--dry-run")
    assert code == 0 and json.loads(out) == []


def test_send_refused_when_disabled(config_dir: Path) -> None:
    (config_dir / "postel.toml").write_text(STATIC + "no_outgoing_tls_reports = true\n")
    code, _, err = invoke("tlsrpt", "send", "--config", str(config_dir))
    assert code == 1 and "disabled" in err
