"""The shared MTA-STS vectors (../shared/testdata) via the library and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from postel.cli.main import cli
from postel.mtasts.errors import PolicySyntaxError, RecordSyntaxError
from postel.mtasts.policy import parse_policy
from postel.mtasts.record import parse_record

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
POLICIES = TESTDATA / "mtasts-policy"
RECORDS = TESTDATA / "mtasts-record"


def manifest(folder: Path) -> dict[str, str]:
    """file name -> "valid"/"invalid" from the folder's MANIFEST.md table."""
    rows = re.findall(
        r"^\| *([\w.-]+\.txt) *\| *(valid|invalid) *\|",
        (folder / "MANIFEST.md").read_text(),
        flags=re.M,
    )
    return dict(rows)


POLICY_MANIFEST = manifest(POLICIES)
RECORD_MANIFEST = manifest(RECORDS)

# Facts from FACTS.md (and the files themselves for the vectors FACTS.md does not list).
POLICY_FACTS = {
    "enforce.txt": {
        "version": "STSv1",
        "mode": "enforce",
        "max_age": 604800,
        "mx": ["mail.example.com", "*.example.net", "backupmx.example.com"],
        "extensions": [],
    },
    "testing-crlf.txt": {
        "version": "STSv1",
        "mode": "testing",
        "max_age": 86400,
        "mx": ["mx1.example.org"],
        "extensions": [],
    },
    "none-no-mx.txt": {
        "version": "STSv1",
        "mode": "none",
        "max_age": 86400,
        "mx": [],
        "extensions": [],
    },
}
RECORD_FACTS = {"basic.txt": "20160831085700Z", "no-trailing-semicolon.txt": "abc123"}
POLICY_ERRORS = {
    "missing-mx.txt": (None, "mx"),
    "bad-mode.txt": (2, "mode"),
    "garbage.txt": (1, None),
}
RECORD_ERRORS = {"no-id.txt": "id", "wrong-version.txt": "v"}


def test_manifests_cover_all_files() -> None:
    assert set(POLICY_MANIFEST) == {p.name for p in POLICIES.glob("*.txt")}
    assert set(RECORD_MANIFEST) == {p.name for p in RECORDS.glob("*.txt")}
    valid_policies = {n for n, v in POLICY_MANIFEST.items() if v == "valid"}
    assert valid_policies == set(POLICY_FACTS)
    assert {n for n, v in POLICY_MANIFEST.items() if v == "invalid"} == set(POLICY_ERRORS)
    assert {n for n, v in RECORD_MANIFEST.items() if v == "valid"} == set(RECORD_FACTS)
    assert {n for n, v in RECORD_MANIFEST.items() if v == "invalid"} == set(RECORD_ERRORS)


@pytest.mark.parametrize("name", sorted(POLICY_MANIFEST))
def test_policy_library(name: str) -> None:
    data = (POLICIES / name).read_bytes()
    if POLICY_MANIFEST[name] == "valid":
        policy = parse_policy(data)
        assert policy.to_json() == POLICY_FACTS[name]
        assert parse_policy(policy.text()) == policy
    else:
        with pytest.raises(PolicySyntaxError) as exc:
            parse_policy(data)
        assert (exc.value.line, exc.value.field) == POLICY_ERRORS[name]


@pytest.mark.parametrize("name", sorted(RECORD_MANIFEST))
def test_record_library(name: str) -> None:
    text = (RECORDS / name).read_text()
    if RECORD_MANIFEST[name] == "valid":
        assert parse_record(text).id == RECORD_FACTS[name]
    else:
        with pytest.raises(RecordSyntaxError) as exc:
            parse_record(text)
        assert exc.value.field == RECORD_ERRORS[name]


@pytest.mark.parametrize("name", sorted(POLICY_MANIFEST))
def test_policy_cli(name: str) -> None:
    path = POLICIES / name
    result = CliRunner().invoke(cli, ["mtasts", "parse", str(path)])
    if POLICY_MANIFEST[name] == "valid":
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == POLICY_FACTS[name]
    else:
        assert result.exit_code == 1
        assert result.stdout == ""
        line, field = POLICY_ERRORS[name]
        assert str(path) in result.stderr
        if line is not None:
            assert f"line {line}" in result.stderr
        if field is not None:
            assert f"field {field}" in result.stderr


@pytest.mark.parametrize("name", sorted(RECORD_MANIFEST))
def test_record_cli(name: str) -> None:
    path = RECORDS / name
    result = CliRunner().invoke(cli, ["mtasts", "parse", "--record", str(path)])
    if RECORD_MANIFEST[name] == "valid":
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out == {"version": "STSv1", "id": RECORD_FACTS[name], "extensions": []}
    else:
        assert result.exit_code == 1
        assert str(path) in result.stderr
        assert f"field {RECORD_ERRORS[name]}" in result.stderr
