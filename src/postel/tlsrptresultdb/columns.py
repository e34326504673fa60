"""A stored TLS result row as a :class:`ResultRow` and its results as JSON
(pure): one mapping for tlsrptresult.db and for the shared PostgreSQL table
(postel.pg.tlsresults); each backend says how it reads a day, a time and a
JSON value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from postel.columns import col_str
from postel.tlsrpt.parse import policies_from_obj
from postel.tlsrpt.report import policy_to_dict
from postel.tlsrptresultdb.record import ResultRow

# The row's value of a named column.
Column = Callable[[str], object]


def results_obj(row: ResultRow) -> list[dict[str, Any]]:
    """The row's results as stored: a JSON array of RFC 8460 policy entries."""
    return [policy_to_dict(p) for p in row.results]


def result_row(
    value: Column,
    *,
    day: Callable[[object], dt.date],
    when: Callable[[object], dt.datetime],
    obj: Callable[[object], object],
) -> ResultRow:
    """The stored row whose columns *value* gives."""
    addresses = obj(value("recipient_domain_reporting_addresses"))
    if not isinstance(addresses, list):
        raise TypeError("expected a JSON array of reporting addresses")
    return ResultRow(
        policy_domain=col_str(value("policy_domain")),
        day=day(value("day")),
        recipient_domain=col_str(value("recipient_domain")),
        is_host=bool(value("is_host")),
        send_report=bool(value("send_report")),
        results=policies_from_obj(obj(value("results"))),
        created=when(value("created")),
        updated=when(value("updated")),
        sent_to_recipient_domain=bool(value("sent_to_recipient_domain")),
        recipient_domain_reporting_addresses=[str(a) for a in addresses],
        sent_to_policy_domain=bool(value("sent_to_policy_domain")),
    )
