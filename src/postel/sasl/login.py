"""One password login: the name as typed to an account, the shared login limiter
counting the attempt before the password is checked (postel.loginlimit), the
password checked against auth.db off the event loop."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postel.errors import PostelError
from postel.loginlimit import Attempt, LoginLimiter, LoginLimitError, account_key

if TYPE_CHECKING:
    from postel.config.domains import DomainsConfig
    from postel.store.credentials import Passwords


class LoginRefused(PostelError):
    """The limiter makes this client or account wait *wait* seconds first."""

    def __init__(self, message: str, wait: int) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass(frozen=True)
class ScramKeys:
    """What a SCRAM-SHA-256 exchange (RFC 5802 §3) needs of the account; decoy
    keys for a name without a password, so it looks the same from outside."""

    attempt: Attempt
    account: str | None  # None: no such account (decoy keys)
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


class PasswordCheck:
    """*domains* is called for the current accounts (the config may be reloaded)."""

    def __init__(
        self,
        domains: Callable[[], DomainsConfig],
        credentials: Passwords,
        limiter: LoginLimiter,
    ) -> None:
        self._domains = domains
        self._credentials = credentials
        self._limiter = limiter

    def account_for(self, user: str) -> str | None:
        """The configured account a login name (account name or address) means."""
        domains = self._domains()
        account = domains.account_for_address(user) if "@" in user else user
        return account if account in domains.accounts else None

    async def _reserve(self, ip: str | None, user: str, account: str | None) -> Attempt:
        try:
            return await self._limiter.reserve(ip, account_key(account, user))
        except LoginLimitError as exc:
            wait = math.ceil(exc.retry_after)
            raise LoginRefused(f"login of {user!r} from {ip}: wait {wait} s", wait) from None

    async def scram_keys(self, ip: str | None, user: str) -> ScramKeys:
        """The attempt is counted first (LoginRefused when it has to wait)."""
        account = self.account_for(user)
        attempt = await self._reserve(ip, user, account)
        # The same salt for the same unknown name every time (Credentials).
        name = account if account is not None else "\0" + user
        salt, iterations, stored, server = await asyncio.to_thread(
            self._credentials.scram_sha256_or_decoy, name
        )
        return ScramKeys(attempt, account, salt, iterations, stored, server)

    async def succeeded(self, attempt: Attempt) -> None:
        await self._limiter.succeeded(attempt)

    async def check(self, ip: str | None, user: str, password: str) -> str | None:
        """The account when *password* is right, None when not; LoginRefused when
        the limiter says this attempt may not be checked now."""
        account = self.account_for(user)
        attempt = await self._reserve(ip, user, account)
        # Unknown names are checked against a dummy so both take the same time.
        name = account if account is not None else "nosuchaccount"
        ok = await asyncio.to_thread(self._credentials.verify, name, password)
        if not ok or account is None:
            return None
        await self._limiter.succeeded(attempt)
        return account
