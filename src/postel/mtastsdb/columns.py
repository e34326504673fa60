"""A cached policy's row as a :class:`CachedPolicy` (pure): one mapping for
mtasts.db and for the shared PostgreSQL table (postel.pg.mtastscache), whose
columns stand in the same order; each backend says how it reads a time and
the policy's JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from postel.columns import col_str
from postel.mtasts.policy import Mode, Policy
from postel.mtastsdb.errors import CorruptRow
from postel.mtastsdb.model import CachedPolicy

COLUMNS = (
    "domain, inserted, valid_end, last_update, last_use, backoff, record_id, policy,"
    " policy_text, failure_type, failure_text"
)

# A stored value to a time or to the policy's JSON object; given the value, the
# field's name and the row's domain (for a CorruptRow naming them).
ReadTime = Callable[[object, str, str], dt.datetime]
ReadObject = Callable[[object, str], object]


def policy_from_obj(obj: object, where: str) -> Policy:
    """The policy of the JSON object *obj* (Policy.to_json's); CorruptRow
    naming *where* (the row) when it is not one."""
    try:
        if not isinstance(obj, dict):
            raise TypeError("not an object")
        return Policy(
            mode=Mode(obj["mode"]),
            max_age=int(obj["max_age"]),
            mx=tuple(obj["mx"]),
            extensions=tuple((k, v) for k, v in obj["extensions"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptRow(f"{where}, field policy: {e}") from None


def cached_policy(
    r: Sequence[object], *, table: str, when: ReadTime, policy_obj: ReadObject
) -> CachedPolicy:
    """The row *r* of COLUMNS in *table* (named in errors)."""
    domain = col_str(r[0])
    return CachedPolicy(
        domain=domain,
        inserted=when(r[1], "inserted", domain),
        valid_end=when(r[2], "valid_end", domain),
        last_update=when(r[3], "last_update", domain),
        last_use=when(r[4], "last_use", domain),
        backoff=bool(r[5]),
        record_id=col_str(r[6]),
        policy=policy_from_obj(policy_obj(r[7], domain), f"{table} row {domain!r}"),
        policy_text=col_str(r[8]),
        failure_type=col_str(r[9]),
        failure_text=col_str(r[10]),
    )
