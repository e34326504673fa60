"""`postel account` commands and the domains.toml editing beneath them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from postel.cli.account import command
from postel.config import ConfigError, load_config
from postel.datadir import DataDir
from postel.store.accountsfile import add_account, remove_account, validate_domains
from postel.store.credentials import Credentials

STATIC = """\
hostname = "mail.example.org"
postmaster_account = "admin"
"""

DOMAINS = """\
# Domains hosted here.
[domains."example.org"]
description = "main" # inline comment

[domains."example.org".aliases]
team = ["admin@example.org"]

# The administrator.
[accounts.admin]
domain = "example.org"
addresses = ["admin@example.org"] # keep me
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    d.mkdir()
    (d / "postel.toml").write_text(STATIC)
    (d / "domains.toml").write_text(DOMAINS)
    return d


def run(config_dir: Path, *args: str, input: str | None = None) -> Result:
    # click >= 8.2 keeps stderr apart from stdout.
    result = CliRunner().invoke(
        command, [args[0], "--config", str(config_dir), *args[1:]], input=input
    )
    return result


def datadir(config_dir: Path) -> DataDir:
    return DataDir(config_dir / "data")


def test_add_with_password_file(config_dir: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret password\nignored second line\n")
    result = run(
        config_dir,
        "add",
        "alice",
        "Alice@Example.org",
        "--password-file",
        str(pw),
        "--full-name",
        "Alice A",
    )
    assert result.exit_code == 0, result.stderr
    assert "password:" not in result.stdout
    text = (config_dir / "domains.toml").read_text()
    # Comments elsewhere are preserved, the new account is valid config.
    for comment in (
        "# Domains hosted here.",
        "# inline comment",
        "# The administrator.",
        "# keep me",
    ):
        assert comment in text
    data = tomllib.loads(text)
    assert data["accounts"]["alice"] == {
        "domain": "example.org",
        "addresses": ["Alice@example.org"],
        "full_name": "Alice A",
    }
    cfg = load_config(config_dir)
    assert cfg.domains.account_for_address("alice@example.org") == "alice"
    with Credentials(datadir(config_dir).auth_db) as creds:
        assert creds.verify("alice", "s3cret password")
        assert not creds.verify("alice", "ignored second line")
    # The account store exists with its default mailboxes.
    assert (datadir(config_dir).account_dir("alice") / "index.db").is_file()


def test_add_generates_password_when_not_interactive(config_dir: Path) -> None:
    result = run(config_dir, "add", "bob", "bob@example.org")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("password: "))
    password = line.removeprefix("password: ")
    assert len(password) >= 20
    with Credentials(datadir(config_dir).auth_db) as creds:
        assert creds.verify("bob", password)


def test_add_password_from_stdin(config_dir: Path) -> None:
    result = run(
        config_dir, "add", "bob", "bob@example.org", "--password-file", "-", input="from stdin pw\n"
    )
    assert result.exit_code == 0, result.stderr
    with Credentials(datadir(config_dir).auth_db) as creds:
        assert creds.verify("bob", "from stdin pw")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "admin", "other@example.org", "--generate"], "already exists"),
        (["add", "carol", "carol@unknown.example", "--generate"], "is not configured"),
        (["add", "carol", "admin@example.org", "--generate"], "is in accounts"),
        (["add", "Bad Name", "x@example.org", "--generate"], "invalid account name"),
        (["add", "carol", "no-at-sign", "--generate"], "not an email address"),
    ],
)
def test_add_refuses_invalid(config_dir: Path, args: list[str], message: str) -> None:
    before = (config_dir / "domains.toml").read_text()
    result = run(config_dir, *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "domains.toml" in result.stderr
    assert (config_dir / "domains.toml").read_text() == before
    assert not datadir(config_dir).auth_db.exists()


def test_add_refuses_short_password(config_dir: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("short\n")
    result = run(config_dir, "add", "bob", "bob@example.org", "--password-file", str(pw))
    assert result.exit_code == 1 and "shorter than" in result.stderr


def test_list(config_dir: Path) -> None:
    run(config_dir, "add", "bob", "bob@example.org", "--generate")
    result = run(config_dir, "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("admin\tadmin@example.org\tNO PASSWORD")
    assert lines[1].startswith("bob\tbob@example.org\tpassword set")
    data = json.loads(run(config_dir, "list", "--json").stdout)
    assert [(r["name"], r["password"]) for r in data] == [("admin", False), ("bob", True)]


def test_passwd(config_dir: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a new password\n")
    result = run(config_dir, "passwd", "admin", "--password-file", str(pw))
    assert result.exit_code == 0, result.stderr
    with Credentials(datadir(config_dir).auth_db) as creds:
        assert creds.verify("admin", "a new password")
    result = run(config_dir, "passwd", "nobody", "--generate")
    assert result.exit_code == 1 and "no account 'nobody'" in result.stderr


def test_remove_keeps_store(config_dir: Path) -> None:
    run(config_dir, "add", "bob", "bob@example.org", "--generate")
    store_dir = datadir(config_dir).account_dir("bob")
    assert store_dir.is_dir()
    result = run(config_dir, "remove", "bob", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "kept" in result.stdout and str(store_dir) in result.stdout
    assert store_dir.is_dir()
    text = (config_dir / "domains.toml").read_text()
    assert "bob" not in text and "# keep me" in text and "# Domains hosted here." in text
    load_config(config_dir)
    with Credentials(datadir(config_dir).auth_db) as creds:
        assert not creds.has_password("bob")


def test_remove_asks_for_confirmation(config_dir: Path) -> None:
    run(config_dir, "add", "bob", "bob@example.org", "--generate")
    result = run(config_dir, "remove", "bob", input="n\n")
    assert result.exit_code == 1
    assert "bob" in tomllib.loads((config_dir / "domains.toml").read_text())["accounts"]
    result = run(config_dir, "remove", "bob", input="y\n")
    assert result.exit_code == 0
    assert "bob" not in tomllib.loads((config_dir / "domains.toml").read_text())["accounts"]


def test_remove_refuses_referenced_accounts(config_dir: Path) -> None:
    result = run(config_dir, "remove", "admin", "--yes")
    assert result.exit_code == 1 and "postmaster_account" in result.stderr
    # Referenced by a domain's report address: refused by domains.toml validation.
    run(config_dir, "add", "reports", "reports@example.org", "--generate")
    path = config_dir / "domains.toml"
    path.write_text(
        path.read_text().replace(
            'description = "main" # inline comment',
            'description = "main" # inline comment\n'
            'dmarc_reports = {localpart = "dmarc", account = "reports", mailbox = "DMARC"}',
        )
    )
    load_config(config_dir)
    result = run(config_dir, "remove", "reports", "--yes")
    assert result.exit_code == 1 and "unknown account 'reports'" in result.stderr
    assert run(config_dir, "remove", "nobody", "--yes").exit_code == 1


def test_remove_warns_about_aliases(config_dir: Path, tmp_path: Path) -> None:
    static = config_dir / "postel.toml"
    run(config_dir, "add", "boss", "boss@example.org", "--generate")
    static.write_text(STATIC.replace('"admin"', '"boss"'))
    result = run(config_dir, "remove", "admin", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "alias team@example.org" in result.stderr


def test_missing_config(tmp_path: Path) -> None:
    result = run(tmp_path / "nope", "list")
    assert result.exit_code == 1 and "file not found" in result.stderr


# -- accountsfile (pure) ------------------------------------------------------


def test_add_account_without_accounts_table() -> None:
    text = '# only domains\n[domains."example.org"]\n'
    new = add_account(text, "a", "a@example.org")
    assert new.startswith("# only domains\n")
    cfg = validate_domains(new, "domains.toml")
    assert cfg.accounts["a"].addresses == ["a@example.org"]


def test_add_account_to_inline_table() -> None:
    text = '[domains."example.org"]\n'
    text = "accounts = {}\n" + text
    new = add_account(text, "a", "a@example.org")
    assert validate_domains(new, "d.toml").accounts["a"].domain == "example.org"


def test_add_and_remove_account_errors() -> None:
    with pytest.raises(ValueError, match="already exists"):
        add_account(DOMAINS, "admin", "x@example.org")
    with pytest.raises(ValueError, match="no account"):
        remove_account(DOMAINS, "nobody")


def test_validate_domains_names_line() -> None:
    bad = DOMAINS.replace('domain = "example.org"', 'domain = "other.example"')
    with pytest.raises(ConfigError) as info:
        validate_domains(bad, "domains.toml")
    assert "domains.toml" in str(info.value) and "not configured" in str(info.value)
    with pytest.raises(ConfigError, match="TOML syntax"):
        validate_domains("[[[", "domains.toml")
