"""`postel dmarc parse`."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from postel.cli.main import cli

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dmarc"
MANIFEST = re.findall(
    r"^\| (\S+) \| (valid|invalid) \|", (TESTDATA / "MANIFEST.md").read_text(), re.M
)
REPORT_IDS = {
    "example.net!example.com!1529366400!1529452799.xml": "b043f0e264cf4ea995e93765242f6dfb",
    "fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": "102675056",
    "estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": "2940",
    "invalid_xml.xml": "sonexushealth.com:1530233361",
    "twilight.eml": "1627703331531660819",
}


@pytest.mark.parametrize(("name", "expected"), MANIFEST)
def test_parse_vectors(name: str, expected: str) -> None:
    result = CliRunner().invoke(cli, ["dmarc", "parse", str(TESTDATA / name)])
    if expected == "valid":
        assert result.exit_code == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["report_metadata"]["report_id"] == REPORT_IDS[name]
        assert sum(r["row"]["count"] for r in out["records"]) == 1
    else:
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert name in result.stderr


def test_strict_and_warnings() -> None:
    path = str(TESTDATA / "invalid_xml.xml")
    lenient = CliRunner().invoke(cli, ["dmarc", "parse", path])
    assert lenient.exit_code == 0
    assert "warning:" in lenient.stderr and "repaired" in lenient.stderr
    strict = CliRunner().invoke(cli, ["dmarc", "parse", "--strict", path])
    assert strict.exit_code == 1
    assert "line 5, column" in strict.stderr


def test_generated_gz(tmp_path: Path) -> None:
    p = tmp_path / "r.xml.gz"
    p.write_bytes(
        gzip.compress((TESTDATA / "example.net!example.com!1529366400!1529452799.xml").read_bytes())
    )
    result = CliRunner().invoke(cli, ["dmarc", "parse", str(p)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["policy_published"]["domain"] == "example.com"


def test_billion_laughs_cli(tmp_path: Path) -> None:
    p = tmp_path / "lol.xml"
    p.write_bytes(b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><feedback>&b;</feedback>')
    result = CliRunner().invoke(cli, ["dmarc", "parse", str(p)])
    assert result.exit_code == 1
    assert "DTD" in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dmarc", "parse", str(tmp_path / "none.xml")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
