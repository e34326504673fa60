"""mtasts.db: cache of MTA-STS policies of recipient domains (RFC 8461 §5.1).

Row per domain as in docs/mta-sts.md, The cache; :meth:`MTASTSDB.get` decides
which policy a delivery uses, :func:`refresh_loop` keeps the cache fresh.
"""

from postel.mtastsdb.api import MTASTSCache
from postel.mtastsdb.cache import Fetcher, PolicyCache
from postel.mtastsdb.db import MTASTSDB
from postel.mtastsdb.errors import CorruptRow
from postel.mtastsdb.model import BACKOFF, BACKOFF_MAX_AGE, CachedPolicy, PolicyLookup
from postel.mtastsdb.refresh import RefreshStats, refresh_loop, refresh_once

__all__ = [
    "BACKOFF",
    "BACKOFF_MAX_AGE",
    "MTASTSDB",
    "CachedPolicy",
    "CorruptRow",
    "Fetcher",
    "MTASTSCache",
    "PolicyCache",
    "PolicyLookup",
    "RefreshStats",
    "refresh_loop",
    "refresh_once",
]
