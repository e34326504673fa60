"""What the parts use of the MTA-STS policy cache: deliveries and the webmail's
recipient security look policies up (RFC 8461 §5.1), the admin page lists the
rows. The refresher (postel.mtastsdb.refresh) works on a
postel.mtastsdb.cache.PolicyCache.

Implemented by :class:`postel.mtastsdb.db.MTASTSDB` (the node's mtasts.db) and
postel.pg.mtastscache.PgMTASTSCache (shared by the nodes).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from postel.dns import Resolver
from postel.mtastsdb.cache import Fetcher
from postel.mtastsdb.model import CachedPolicy, PolicyLookup


class MTASTSCache(Protocol):
    async def get(
        self,
        resolver: Resolver,
        domain: str,
        *,
        now: dt.datetime | None = None,
        fetch: Fetcher | None = None,
    ) -> PolicyLookup: ...

    def rows(self) -> list[CachedPolicy]: ...

    def close(self) -> None: ...
