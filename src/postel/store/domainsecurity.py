"""What deliveries from an account saw of each recipient domain: STARTTLS and
REQUIRETLS support (docs/delivery-policy.md, After the session)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from postel.store.accountbase import AccountBase, _iso, _parse_iso
from postel.store.message import DomainSecurity


def normalize_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


class DomainSecurityMemory(AccountBase):
    """The per-domain security memory of one account (part of AccountStore)."""

    # -- recipient domain security (docs/delivery-policy.md, After the session) --

    def remember_domain_security(
        self, domain: str, starttls: bool | None, requiretls: bool | None
    ) -> None:
        """Record what a delivery to *domain* saw; None keeps the earlier value."""
        self.remember_domain_securities([(domain, starttls, requiretls)])

    def remember_domain_securities(
        self, findings: Iterable[tuple[str, bool | None, bool | None]]
    ) -> None:
        """Record (domain, starttls, requiretls) findings in one transaction
        (one commit for the many domains a busy queue delivers to at once)."""
        now = _iso(datetime.now(UTC))
        rows = [
            (
                normalize_domain(domain),
                None if starttls is None else int(starttls),
                None if requiretls is None else int(requiretls),
                now,
            )
            for domain, starttls, requiretls in findings
        ]
        if not rows:
            return
        with self._lock:
            self._check_open()
            with self._write():
                self._conn.executemany(
                    "INSERT INTO domain_security (domain, starttls, requiretls, updated) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (domain) DO UPDATE SET "
                    "starttls = coalesce(excluded.starttls, starttls), "
                    "requiretls = coalesce(excluded.requiretls, requiretls), "
                    "updated = excluded.updated",
                    rows,
                )

    def domain_security(self, domain: str) -> DomainSecurity:
        """What is known about *domain*; all None when nothing is."""
        domain = normalize_domain(domain)
        with self._lock:
            self._check_open()
            row = self._conn.execute(
                "SELECT * FROM domain_security WHERE domain = ?", (domain,)
            ).fetchone()
        if row is None:
            return DomainSecurity(domain, None, None, None)
        return DomainSecurity(
            domain=domain,
            starttls=None if row["starttls"] is None else bool(row["starttls"]),
            requiretls=None if row["requiretls"] is None else bool(row["requiretls"]),
            updated=_parse_iso(row["updated"]),
        )
