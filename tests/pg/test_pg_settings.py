"""[storage] connection settings, checked without connecting."""

from __future__ import annotations

from pathlib import Path

import pytest

from postel.pg.errors import PgSettingsError
from postel.pg.settings import PgSettings, describe, parse_dsn, read_password


@pytest.mark.parametrize(
    "dsn",
    [
        "host=db.internal dbname=postel user=postel password=hunter2",
        "postgresql://postel:hunter2@db.internal/postel",
    ],
)
def test_a_password_inline_is_refused_without_echoing_it(dsn: str) -> None:
    with pytest.raises(PgSettingsError) as info:
        parse_dsn(dsn)
    text = str(info.value)
    assert text.startswith("[storage] dsn: has a password inline")
    assert "hunter2" not in text and "\n" not in text


def test_unparseable_dsn_is_one_line() -> None:
    with pytest.raises(PgSettingsError, match=r"^\[storage\] dsn: not a PostgreSQL DSN") as info:
        parse_dsn("host db.internal")
    assert "\n" not in str(info.value)


def test_describe_names_no_secret() -> None:
    params = parse_dsn("postgresql://postel@db.internal:6432/mail")
    assert describe(params) == "postel@db.internal:6432/mail"
    assert describe(parse_dsn("dbname=x")) == "localhost:5432/x"


def test_conninfo_adds_the_password_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "pgpass"
    secret.write_text("s3cret with space\nignored\n")
    settings = PgSettings(dsn="host=127.0.0.1 dbname=postel", password=read_password(secret))
    assert "s3cret with space" in settings.conninfo()
    assert "s3cret" not in settings.where
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_password_file_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(PgSettingsError, match=r"password_file .*missing: cannot read"):
        read_password(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(PgSettingsError, match="empty"):
        read_password(empty)
    assert read_password(None) == ""
