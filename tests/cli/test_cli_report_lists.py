"""`postel tlsrpt list/show` and `postel dmarc list` on a generated data dir."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from postel.cli.main import cli


def make_data(tmp_path: Path) -> Path:
    result = CliRunner().invoke(cli, ["gentestdata", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    return tmp_path / "d" / "config"


def test_tlsrpt_list_and_show(tmp_path: Path) -> None:
    config = make_data(tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["tlsrpt", "list", "--config", str(config), "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert listed["total"] == 1
    (row,) = listed["reports"]
    assert row["policy-domains"] == ["example.org"] and row["failures"] >= 1
    shown = runner.invoke(cli, ["tlsrpt", "show", "--config", str(config), str(row["id"])])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["organization-name"] == row["organization"]
    assert report["policies"][0]["policy"]["policy-domain"] == "example.org"
    # Only host reports: none in the generated data.
    host = runner.invoke(cli, ["tlsrpt", "list", "--config", str(config), "--host", "--json"])
    assert json.loads(host.output)["total"] == 0


def test_tlsrpt_show_unknown_id_fails(tmp_path: Path) -> None:
    config = make_data(tmp_path)
    result = CliRunner().invoke(cli, ["tlsrpt", "show", "--config", str(config), "999"])
    assert result.exit_code == 1
    assert "no report with id 999" in result.output


def test_dmarc_list(tmp_path: Path) -> None:
    config = make_data(tmp_path)
    out = CliRunner().invoke(cli, ["dmarc", "list", "--config", str(config), "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert listed["total"] == 1
    assert listed["reports"][0]["domain"] == "example.org"
    assert listed["reports"][0]["messages"] >= 1
    table = CliRunner().invoke(cli, ["dmarc", "list", "--config", str(config)])
    assert "1 reports" in table.output and "example.org" in table.output
