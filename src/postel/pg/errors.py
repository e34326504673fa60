"""Errors of the PostgreSQL store; messages say what and where on one line."""

from __future__ import annotations

from postel.errors import PostelError
from postel.queue.errors import QueueUnavailable
from postel.store.errors import StoreError, StoreUnavailable


class PgError(PostelError):
    """Base of the PostgreSQL store's errors."""


class PgSettingsError(PgError):
    """The [storage] settings cannot be used (a DSN with a password inline, an
    unreadable password file, psycopg not installed)."""


class PgConnectError(PgError):
    """No connection to the database server (refused, authentication, timeout)."""


class PgSchemaTooNew(PgError):
    """The database's schema was written by a newer program."""


class PgMigrationFailed(PgError):
    """A migration step failed; its transaction was rolled back."""


class PgCopyError(PgError):
    """`postel migrate-store` cannot copy: a source record or file it cannot
    read, a target that is not empty. Says what and where."""


class PgVerifyError(PgError):
    """`postel verifydata` could not read the PostgreSQL store (a permission
    problem, a lost connection)."""


class PgStoreUnavailable(PgError, StoreUnavailable):
    """The database of accounts, mail and passwords cannot be reached (no
    connection within connect_timeout, or the connection broke)."""


class PgQueueUnavailable(PgError, QueueUnavailable):
    """The outgoing queue's database cannot be reached (no connection within
    connect_timeout, or the connection broke)."""


class PgObjectStoreUnavailable(PgStoreUnavailable):
    """The object store of message bodies cannot be reached, or refused a
    request (no answer within its timeout, a denied signature, no bucket)."""


class PgObjectMissing(PgError, StoreError):
    """A body's object is not in the object store, or its content does not
    match the SHA-256 that names it."""
