"""ACME challenges answered by any node of the PostgreSQL store.

A load balancer may send the CA's validation request to another node than the
one that ordered (RFC 8555 §8.3 HTTP-01, RFC 8737 §3 TLS-ALPN-01). The
ordering node's ACME client thread writes each challenge it answers to table
acme_challenge and notifies (postel.pg.acmestore.CHANNEL); every node's
follower then loads all pending challenges into its own
postel.acme.Challenges, where its listeners look them up without a query (a
TLS handshake's SNI callback cannot wait for the database). The client waits
SETTLE seconds after sharing a challenge before it asks the CA to validate,
so that the other nodes have loaded it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from pathlib import Path

import psycopg

from postel.acme.challenges import Challenges, alpn_context
from postel.pg.errors import PgError
from postel.pg.pool import connect
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

CHANNEL = "postel_acme"  # postel.pg.acmestore's channel
SETTLE = 1.0  # seconds for the other nodes to load a new challenge
STALE = "1 hour"  # challenges left by a node that died mid-order go after this
HTTP01 = "http-01"
TLSALPN01 = "tls-alpn-01"


class PgChallengeError(PgError):
    """A challenge could not be shared with the other nodes."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PgChallenges(Challenges):
    """The node's challenges, and those of every other node (:meth:`refresh`).
    *tmpdir*: where a TLS-ALPN-01 context's key passes through (postel.acme.challenges)."""

    def __init__(self, settings: PgSettings, tmpdir: Path, *, settle: float = SETTLE) -> None:
        super().__init__()
        self.settings = settings
        self.tmpdir = tmpdir
        self.settle = settle
        self._alpn_auth: dict[str, str] = {}  # name -> key authorization of its context

    # Called by the ACME client's thread (postel.acme.client): blocking is fine.
    def add_tls_alpn(self, name: str, key_authorization: str, tmpdir: Path) -> None:
        super().add_tls_alpn(name, key_authorization, tmpdir)
        self._alpn_auth[name.lower()] = key_authorization
        self._share(TLSALPN01, name.lower(), key_authorization)

    def remove_tls_alpn(self, name: str) -> None:
        super().remove_tls_alpn(name)
        self._unshare(TLSALPN01, name.lower())

    def add_http(self, token: str, key_authorization: str) -> None:
        super().add_http(token, key_authorization)
        self._share(HTTP01, token, key_authorization)

    def remove_http(self, token: str) -> None:
        super().remove_http(token)
        self._unshare(HTTP01, token)

    def _execute(self, *statements: tuple[str, tuple[str, ...]]) -> None:
        try:
            with (
                psycopg.connect(
                    self.settings.conninfo(),
                    autocommit=True,
                    connect_timeout=max(1, int(self.settings.connect_timeout)),
                ) as conn,
                conn.transaction(),
            ):
                for sql, args in statements:
                    conn.execute(sql, args)
                conn.execute("SELECT pg_notify(%s, 'challenges')", (CHANNEL,))
        except psycopg.Error as exc:
            raise PgChallengeError(
                f"ACME challenge in PostgreSQL {self.settings.where}: {_first_line(exc)}"
            ) from None

    def _share(self, kind: str, ident: str, key_authorization: str) -> None:
        self._execute(
            ("DELETE FROM acme_challenge WHERE created < now() - %s::interval", (STALE,)),
            (
                "INSERT INTO acme_challenge (kind, ident, key_authorization) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, ident) DO UPDATE SET "
                "key_authorization = excluded.key_authorization, created = now()",
                (kind, ident, key_authorization),
            ),
        )
        time.sleep(self.settle)

    def _unshare(self, kind: str, ident: str) -> None:
        self._execute(("DELETE FROM acme_challenge WHERE kind = %s AND ident = %s", (kind, ident)))

    async def refresh(self) -> None:
        """Load every pending challenge of every node; drop those gone."""
        conn = await connect(self.settings)
        try:
            cur = await conn.execute("SELECT kind, ident, key_authorization FROM acme_challenge")
            rows = [(str(k), str(i), str(a)) for k, i, a in await cur.fetchall()]
        finally:
            await conn.close()
        self._http = {ident: auth for kind, ident, auth in rows if kind == HTTP01}
        wanted = {ident: auth for kind, ident, auth in rows if kind == TLSALPN01}
        alpn: dict[str, ssl.SSLContext] = {}
        for name, auth in wanted.items():
            ctx = self._alpn.get(name)
            if ctx is None or self._alpn_auth.get(name) != auth:
                ctx = await asyncio.to_thread(alpn_context, name, auth, self.tmpdir)
            alpn[name] = ctx
        self._alpn = alpn
        self._alpn_auth = dict(wanted)
