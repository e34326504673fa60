"""[storage] in postel.toml, `postel config test` and `postel config migrate-db`
against the test cluster: one line for each problem, never the password."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner, Result

from pgcluster import ROLE, Cluster
from postel.cli.main import cli
from postel.pg.schema import MIGRATIONS

STATIC = """hostname = "mail.example.com"
postmaster_account = "alice"

[storage]
backend = "postgresql"
dsn = "{dsn}"
password_file = "pgpassword"
connect_timeout = 5

[junk]
enabled = false  # not on the PostgreSQL store yet
"""

DOMAINS = """[domains."example.com"]
description = "test"

[accounts.alice]
domain = "example.com"
addresses = ["alice@example.com"]
"""


def _config(d: Path, dsn: str, password: str | None) -> Path:
    (d / "postel.toml").write_text(STATIC.format(dsn=dsn))
    (d / "domains.toml").write_text(DOMAINS)
    if password is not None:
        (d / "pgpassword").write_text(password + "\n")
    return d


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _problem_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("problem:")]


def test_config_test_connects_and_reads_the_schema_version(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    d = _config(tmp_path, pg_cluster.dsn(pg_database, with_password=False), pg_cluster.password)
    migrated = _run("config", "migrate-db", "--config", str(d))
    assert migrated.exit_code == 0, migrated.output
    assert f"schema version {len(MIGRATIONS)} (was 0)" in migrated.output
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 0, result.output
    where = f"{ROLE}@127.0.0.1:{pg_cluster.port}/{pg_database}"
    assert f"{where}: connected, schema version {len(MIGRATIONS)}" in result.output
    assert pg_cluster.password not in result.output


def test_wrong_password_is_one_line(tmp_path: Path, pg_cluster: Cluster, pg_database: str) -> None:
    d = _config(tmp_path, pg_cluster.dsn(pg_database, with_password=False), "not-the-password")
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 1
    assert _problem_lines(result) == [
        f"problem: [storage] cannot connect: PostgreSQL {ROLE}@127.0.0.1:{pg_cluster.port}/"
        f'{pg_database}: connection failed: connection to server at "127.0.0.1", port '
        f'{pg_cluster.port} failed: FATAL:  password authentication failed for user "{ROLE}"'
    ]
    assert "Traceback" not in result.output and "not-the-password" not in result.output


def test_missing_schema_is_one_line(tmp_path: Path, pg_cluster: Cluster, pg_database: str) -> None:
    d = _config(tmp_path, pg_cluster.dsn(pg_database, with_password=False), pg_cluster.password)
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 1
    assert _problem_lines(result) == [
        f"problem: [storage] PostgreSQL {ROLE}@127.0.0.1:{pg_cluster.port}/{pg_database}: "
        f"no postel schema (version 0, this program needs {len(MIGRATIONS)}); "
        "create it with `postel config migrate-db`"
    ]


def test_nothing_listening_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nobody listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = _config(tmp_path, f"host=127.0.0.1 port={port} dbname=x user=y", "pw")
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 1
    (line,) = _problem_lines(result)
    assert line.startswith(f"problem: [storage] cannot connect: PostgreSQL y@127.0.0.1:{port}/x:")
    assert "Connection refused" in line


def test_password_inline_is_refused_naming_the_field(tmp_path: Path) -> None:
    d = _config(tmp_path, "postgresql://postel:hunter2@127.0.0.1/postel", None)
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 1
    assert "postel.toml:6: storage.dsn: has a password inline" in result.output
    assert "hunter2" not in result.output


def test_missing_password_file_is_one_line(tmp_path: Path) -> None:
    d = _config(tmp_path, "host=127.0.0.1 dbname=x", None)
    result = _run("config", "test", "--config", str(d))
    assert result.exit_code == 1
    assert _problem_lines(result) == [
        f"problem: [storage] password_file {d / 'pgpassword'}: cannot read: "
        "No such file or directory"
    ]


def test_postgresql_needs_a_dsn(tmp_path: Path) -> None:
    (tmp_path / "postel.toml").write_text(
        STATIC.replace('dsn = "{dsn}"\n', "").replace('password_file = "pgpassword"\n', "")
    )
    (tmp_path / "domains.toml").write_text(DOMAINS)
    result = _run("config", "test", "--config", str(tmp_path))
    assert result.exit_code == 1
    assert 'storage: backend = "postgresql" needs a dsn' in result.output


def test_sqlite_default_does_not_connect(tmp_path: Path) -> None:
    (tmp_path / "postel.toml").write_text(STATIC.split("[storage]")[0])
    (tmp_path / "domains.toml").write_text(DOMAINS)
    result = _run("config", "test", "--config", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "PostgreSQL" not in result.output
