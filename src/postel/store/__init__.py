"""Accounts, mailboxes and messages: a SQLite index per account plus
immutable message files (docs/architecture.md, Data directory)."""

from postel.store.account import AccountStore
from postel.store.errors import (
    CredentialsError,
    InvalidFlag,
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    OverQuota,
    StoreError,
    UnknownAccount,
)
from postel.store.message import DomainSecurity, MailboxInfo, Message, StoreStats
from postel.store.searchquery import BadQuery
from postel.store.store import Store

__all__ = [
    "AccountStore",
    "BadQuery",
    "CredentialsError",
    "DomainSecurity",
    "InvalidFlag",
    "InvalidMailboxName",
    "MailboxExists",
    "MailboxInfo",
    "MailboxNotFound",
    "Message",
    "MessageNotFound",
    "OverQuota",
    "Store",
    "StoreError",
    "StoreStats",
    "UnknownAccount",
]
