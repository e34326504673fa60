"""One password login: the name as typed to an account, the shared login limiter
counting the attempt before the password is checked (postel.loginlimit), the
password checked against auth.db off the event loop."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from postel.loginlimit import LoginLimiter, LoginLimitError, account_key

if TYPE_CHECKING:
    from postel.config.domains import DomainsConfig
    from postel.store.credentials import Credentials


class LoginRefused(Exception):
    """The limiter makes this client or account wait *wait* seconds first."""

    def __init__(self, message: str, wait: int) -> None:
        super().__init__(message)
        self.wait = wait


class PasswordCheck:
    """*domains* is called for the current accounts (the config may be reloaded)."""

    def __init__(
        self,
        domains: Callable[[], DomainsConfig],
        credentials: Credentials,
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

    async def check(self, ip: str | None, user: str, password: str) -> str | None:
        """The account when *password* is right, None when not; LoginRefused when
        the limiter says this attempt may not be checked now."""
        account = self.account_for(user)
        try:
            attempt = await self._limiter.reserve(ip, account_key(account, user))
        except LoginLimitError as exc:
            wait = math.ceil(exc.retry_after)
            raise LoginRefused(f"login of {user!r} from {ip}: wait {wait} s", wait) from None
        # Unknown names are checked against a dummy so both take the same time.
        name = account if account is not None else "nosuchaccount"
        ok = await asyncio.to_thread(self._credentials.verify, name, password)
        if not ok or account is None:
            return None
        await self._limiter.succeeded(attempt)
        return account
