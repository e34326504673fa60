"""The junk filter of the accounts: files a message at delivery and learns
from the user's verdicts. Database work runs in a thread, never on the event
loop; one owner (the delivery path) records where the message went."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.header
import email.parser
import email.policy
import hashlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from postel.config.domains import Account
from postel.config.model import JunkConfig, JunkThresholds
from postel.dns import Resolver
from postel.junk import dnsbl
from postel.junk.classify import classify
from postel.junk.db import JunkDB
from postel.junk.decide import GTUBE, Filing, Signals, Thresholds, decide
from postel.junk.reputation import Verified, identities, judge
from postel.junk.tokens import features
from postel.store.bodytext import READ_LIMIT, body_text

log = logging.getLogger("postel.junk")


@dataclass(frozen=True)
class Settings:
    thresholds: Thresholds = field(default_factory=Thresholds)  # of accounts without their own
    accounts: Mapping[str, Thresholds] = field(default_factory=dict)  # their own
    dnsbl_zones: tuple[str, ...] = ()
    dnsbl_timeout: float = dnsbl.TIMEOUT
    dnsbl_internal_senders: bool = False

    @classmethod
    def from_config(cls, junk: JunkConfig, accounts: Mapping[str, Account]) -> Settings:
        def of(t: JunkThresholds) -> Thresholds:
            return Thresholds(
                junk=t.junk, reject=t.reject, refuse=t.refuse, min_trained=t.min_trained
            )

        return cls(
            thresholds=of(junk.thresholds),
            accounts={n: of(a.junk) for n, a in accounts.items() if a.junk is not None},
            dnsbl_zones=tuple(junk.dnsbl_zones),
            dnsbl_timeout=junk.dnsbl_timeout,
            dnsbl_internal_senders=junk.dnsbl_internal_senders,
        )

    def for_account(self, account: str) -> Thresholds:
        return self.accounts.get(account, self.thresholds)


def subject_of(message: bytes) -> str:
    end = message.find(b"\r\n\r\n")
    head = message[: end if end >= 0 else READ_LIMIT][:READ_LIMIT]
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    raw = parsed.get("Subject")
    if raw is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(raw))))
    except (ValueError, LookupError, UnicodeError):
        return str(raw)


def message_features(message: bytes) -> frozenset[str]:
    return features(subject_of(message), body_text(message))


def message_key(message: bytes) -> str:
    """Training is per message content: a copy or a move is the same message."""
    return hashlib.sha256(message).hexdigest()


def _checkable(ip: str | None, internal: bool) -> bool:
    if ip is None:
        return False
    try:
        return internal or ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


class JunkFilter:
    """Per-account junk.db files under *accounts_dir*/<account>/."""

    def __init__(
        self,
        accounts_dir: Path,
        settings: Settings | Callable[[], Settings],
        resolver: Resolver | None,
    ) -> None:
        self.accounts_dir = accounts_dir
        # A callable follows a configuration that is reloaded (accounts' thresholds).
        self._settings = settings
        self.resolver = resolver
        self._lock = threading.Lock()  # one writer per process; SQLite serialises processes

    @property
    def settings(self) -> Settings:
        return self._settings() if callable(self._settings) else self._settings

    def _db(self, account: str) -> JunkDB:
        return JunkDB.open(self.accounts_dir / account)

    def _signals(self, account: str, message: bytes, verified: Verified) -> Signals:
        feats = message_features(message)
        ids = identities(verified)
        db = self._db(account)
        try:
            ham, spam = db.totals()
            counts = db.counts(feats)
            reputation = judge(ids, db.reputation(ids))
        finally:
            db.close()
        return Signals(
            gtube=GTUBE in message[:READ_LIMIT],
            verdict=classify(feats, counts, ham, spam),
            ham_messages=ham,
            spam_messages=spam,
            reputation=reputation,
        )

    async def listings(self, ip: str | None) -> dnsbl.Result | None:
        """The DNSBL lookups of a sending address, once per message (None: none
        configured, or an address not looked up)."""
        settings = self.settings
        zones = settings.dnsbl_zones
        if not zones or self.resolver is None:
            return None
        if not _checkable(ip, settings.dnsbl_internal_senders):
            return None
        assert ip is not None
        return await dnsbl.check(self.resolver, ip, zones, settings.dnsbl_timeout)

    async def file(
        self,
        account: str,
        message: bytes,
        verified: Verified,
        *,
        dmarc_quarantine: bool = False,
        listed: dnsbl.Result | None = None,
        lookup: bool = True,
    ) -> Filing:
        """Where *message* for *account* goes, and why. *listed*: the message's
        DNSBL results, looked up here when not given (and *lookup*)."""
        if listed is None and lookup:
            listed = await self.listings(verified.ip)
        zones = tuple(x.zone for x in listed.listed) if listed is not None else ()
        signals = await asyncio.to_thread(self._signals, account, message, verified)
        signals = replace(signals, dnsbl=zones, dmarc_quarantine=dmarc_quarantine)
        return decide(signals, self.settings.for_account(account))

    def record(self, account: str, key: str, filing: Filing, at: dt.datetime) -> None:
        """Keep where the message *key* was filed and why (blocking)."""
        db = self._db(account)
        try:
            db.record_filing(key, filing, at)
        finally:
            db.close()

    def filing(self, account: str, key: str) -> Filing | None:
        """Where delivery filed the message *key* (blocking)."""
        path = self.accounts_dir / account / "junk.db"
        if not path.exists():
            return None
        db = self._db(account)
        try:
            return db.filing(key)
        finally:
            db.close()

    def train(self, account: str, message: bytes, verified: Verified, *, spam: bool) -> bool:
        """The user's verdict on *message* (blocking: call from a thread)."""
        feats = message_features(message)
        with self._lock:
            db = self._db(account)
            try:
                changed = db.train(message_key(message), feats, identities(verified), spam=spam)
            finally:
                db.close()
        if changed:
            log.info("junk filter trained", extra={"account": account, "spam": spam})
        return changed
