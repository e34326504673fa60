"""One login limiter for SMTP AUTH, the web logins and (next) IMAP.

Failed logins are counted per client (an IPv4 address or an IPv6 /64), per
client and account, and per account; an attempt is counted *before* its
password is checked, so concurrent guesses cannot all be checked. Beyond a
number of free failures each further attempt has to wait a delay that doubles
per failure. The state lives in auth.db so that every process (SMTP workers,
the main process) shares it. docs/login-limits.md has the numbers.
"""

from postel.loginlimit.errors import LimiterUnavailable, LoginLimitError, TooManyAttempts
from postel.loginlimit.keys import ADMIN, account_key, client_key
from postel.loginlimit.limiter import Attempt, LimitStorage, LoginLimiter
from postel.loginlimit.policy import Settings

__all__ = [
    "ADMIN",
    "Attempt",
    "LimitStorage",
    "LimiterUnavailable",
    "LoginLimitError",
    "LoginLimiter",
    "Settings",
    "TooManyAttempts",
    "account_key",
    "client_key",
]
