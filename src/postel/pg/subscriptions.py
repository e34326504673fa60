"""An account's IMAP subscriptions in PostgreSQL (part of PgAccount).

Names are kept whether or not a mailbox has them (RFC 9051 §6.3.9: a client
may subscribe to a name that does not exist, and a deleted mailbox's
subscription stays). Subscriptions change no message, so they take no modseq.
"""

from __future__ import annotations

from postel.pg.reading import Reading
from postel.store.names import normalize_mailbox


class Subscriptions(Reading):
    """SUBSCRIBE, UNSUBSCRIBE and LSUB's list (RFC 9051 §6.3.9, §6.3.10)."""

    async def subscriptions(self) -> list[str]:
        """Subscribed names, sorted; some may name no mailbox (any more)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT name FROM subscription WHERE account_id = %s ORDER BY name", (self.id,)
            )
            return [str(r[0]) for r in await cur.fetchall()]

    async def subscribe(self, name: str) -> None:
        """Subscribe to *name*; idempotent."""
        name = normalize_mailbox(name)
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO subscription (account_id, name) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.id, name),
            )

    async def unsubscribe(self, name: str) -> None:
        """Remove the subscription to *name*; idempotent (RFC 9051 §6.3.10)."""
        name = normalize_mailbox(name)
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM subscription WHERE account_id = %s AND name = %s", (self.id, name)
            )
