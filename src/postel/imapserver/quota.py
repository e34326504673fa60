"""QUOTA (RFC 9208) as postel has it: one quota root per account, named ""
(RFC 9208 §3.2 allows any name), with the one resource STORAGE, in units of
1024 octets (§5.1), from the account's ``quota`` in domains.toml. The
quota is set there by the operator: SETQUOTA is refused and QUOTASET not
advertised. Pure: the session supplies usage and limit in bytes."""

from __future__ import annotations

ROOT = ""
CAPABILITIES = ("QUOTA", "QUOTA=RES-STORAGE")


def storage_kib(used: int, limit: int) -> tuple[int, int]:
    """(usage, limit) in KiB: usage rounded up, the limit down, so a client
    never sees room that is not there."""
    return -(-used // 1024), limit // 1024


def quota_line(used: int, limit: int) -> bytes:
    """The untagged QUOTA response of the root (RFC 9208 §5.1)."""
    u, lim = storage_kib(used, limit)
    return f'* QUOTA "{ROOT}" (STORAGE {u} {lim})'.encode()


def quotaroot_line(mailbox: bytes, has_quota: bool) -> bytes:
    """The untagged QUOTAROOT response for *mailbox* (RFC 9208 §5.2): every
    mailbox is under the account's root, when the account has a quota."""
    return b"* QUOTAROOT " + mailbox + (f' "{ROOT}"'.encode() if has_quota else b"")
