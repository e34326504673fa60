"""mtasts.db: the MTA-STS policy cache of a data directory (RFC 8461 §5.1,
docs/mta-sts.md); the decisions are postel.mtastsdb.cache's."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from postel.columns import col_str
from postel.db import open_db, transaction
from postel.mtasts.fetch import DEFAULT_TIMEOUT
from postel.mtasts.policy import Policy
from postel.mtastsdb.cache import Fetcher, PolicyCache, utcnow
from postel.mtastsdb.columns import COLUMNS, cached_policy, policy_from_obj
from postel.mtastsdb.errors import CorruptRow
from postel.mtastsdb.model import CachedPolicy
from postel.mtastsdb.schema import MIGRATIONS
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

__all__ = ["MTASTSDB", "Fetcher", "policy_from_json", "policy_to_json", "utcnow"]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _parse_time(value: object, field: str, domain: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(col_str(value))
    except (ValueError, TypeError) as e:
        raise CorruptRow(f"mtasts.db row {domain!r}, field {field}: {e}") from None


def _json(value: object, domain: str) -> object:
    try:
        return json.loads(col_str(value))
    except (ValueError, TypeError) as e:
        raise CorruptRow(f"mtasts.db row {domain!r}, field policy: {e}") from None


def policy_to_json(policy: Policy) -> str:
    return json.dumps(policy.to_json(), sort_keys=True)


def policy_from_json(text: str, domain: str) -> Policy:
    return policy_from_obj(_json(text, domain), f"mtasts.db row {domain!r}")


class MTASTSDB(PolicyCache):
    """The policy cache in mtasts.db. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> None:
        super().__init__(
            extra_ca_files=extra_ca_files,
            https_port=https_port,
            timeout=timeout,
            logger=logger,
            addresses=addresses,
        )
        self.conn = conn
        self.path = path

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        extra_ca_files: Sequence[str | PathLike[str]] = (),
        https_port: int = 443,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
        addresses: AddressPolicy = PUBLIC_ONLY,
    ) -> MTASTSDB:
        return cls(
            open_db(Path(path), MIGRATIONS, readonly=readonly),
            Path(path),
            extra_ca_files=extra_ca_files,
            https_port=https_port,
            timeout=timeout,
            logger=logger,
            addresses=addresses,
        )

    def close(self) -> None:
        self.conn.close()

    # -- rows -------------------------------------------------------------

    @staticmethod
    def _row(r: sqlite3.Row) -> CachedPolicy:
        return cached_policy(r, table="mtasts.db", when=_parse_time, policy_obj=_json)

    def cached(self, domain: str) -> CachedPolicy | None:
        """The stored row for ``domain`` (expired or not), or None."""
        r = self.conn.execute(
            f"SELECT {COLUMNS} FROM policy WHERE domain = ?", (domain,)
        ).fetchone()
        return None if r is None else self._row(r)

    def rows(self) -> list[CachedPolicy]:
        found = self.conn.execute(f"SELECT {COLUMNS} FROM policy ORDER BY domain")
        return [self._row(r) for r in found]

    def put(self, p: CachedPolicy) -> None:
        """Insert or replace a row."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO policy (domain, inserted, valid_end, last_update,"
                " last_use, backoff, record_id, policy, policy_text, failure_type, failure_text)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    p.domain,
                    _iso(p.inserted),
                    _iso(p.valid_end),
                    _iso(p.last_update),
                    _iso(p.last_use),
                    int(p.backoff),
                    p.record_id,
                    policy_to_json(p.policy),
                    p.policy_text,
                    p.failure_type,
                    p.failure_text,
                ),
            )

    def delete(self, domain: str) -> bool:
        cur = self.conn.execute("DELETE FROM policy WHERE domain = ?", (domain,))
        return cur.rowcount > 0

    def touch(self, domain: str, now: dt.datetime) -> None:
        self.conn.execute("UPDATE policy SET last_use = ? WHERE domain = ?", (_iso(now), domain))
