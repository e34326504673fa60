"""Checked values of database columns, for mapping rows of either backend
(SQLite, PostgreSQL) to models without Any (pure)."""

from __future__ import annotations

import datetime as dt


def col_str(value: object) -> str:
    """A text column's value, checked."""
    if not isinstance(value, str):
        raise TypeError(f"expected a text column, got {type(value).__name__}")
    return value


def col_int(value: object) -> int:
    """An integer column's value, checked."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value


def col_utc(value: object) -> dt.datetime:
    """A timestamp-with-time-zone column's value, checked, in UTC."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return value.astimezone(dt.UTC)
