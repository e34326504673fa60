"""The junk filter of the accounts: files a message at delivery and learns
from the user's verdicts. Database work runs in a thread, never on the event
loop; one owner (the delivery path) records where the message went.

The data lives behind postel.junk.store.JunkData: each account's junk.db
(SQLite, kept open: keep one JunkFilter per process, made in that process,
and close it at shutdown) or PostgreSQL's tables shared by the nodes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.header
import email.message
import email.utils
import hashlib
import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from postel.config.domains import Account
from postel.config.model import JunkConfig, JunkThresholds
from postel.dns import Resolver
from postel.junk import dnsbl
from postel.junk.classify import Verdict, combine
from postel.junk.decide import GTUBE, Filing, Signals, Thresholds, decide
from postel.junk.headfields import header_fields
from postel.junk.reputation import Verified, identities, judge
from postel.junk.rspamd import TIMEOUT as RSPAMD_TIMEOUT
from postel.junk.rspamd import check as rspamd_check
from postel.junk.rspamdproto import Answer, Endpoint, Envelope, parse_url
from postel.junk.sqlitedata import SQLiteJunkData
from postel.junk.store import JunkAccountData, JunkData
from postel.junk.tokens import features, header_features
from postel.store.bodytext import READ_LIMIT, body_text

if TYPE_CHECKING:
    from postel.config import Config

log = logging.getLogger("postel.junk")


@dataclass(frozen=True)
class Settings:
    thresholds: Thresholds = field(default_factory=Thresholds)  # of accounts without their own
    accounts: Mapping[str, Thresholds] = field(default_factory=dict)  # their own
    dnsbl_zones: tuple[str, ...] = ()
    dnsbl_timeout: float = dnsbl.TIMEOUT
    dnsbl_internal_senders: bool = False
    rspamd: Endpoint | None = None  # rspamd's normal worker, when it is asked
    rspamd_timeout: float = RSPAMD_TIMEOUT

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
            rspamd=parse_url(junk.rspamd_url) if junk.rspamd_url else None,
            rspamd_timeout=junk.rspamd_timeout,
        )

    def for_account(self, account: str) -> Thresholds:
        return self.accounts.get(account, self.thresholds)


def _header(message: bytes) -> email.message.Message:
    """The fields the filter reads, as the email parser gives them
    (postel.junk.headfields: without parsing the whole header)."""
    end = message.find(b"\r\n\r\n")
    return header_fields(message[: end if end >= 0 else READ_LIMIT][:READ_LIMIT])


def _subject(parsed: email.message.Message) -> str:
    raw = parsed.get("Subject")
    if raw is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(raw))))
    except (ValueError, LookupError, UnicodeError):
        return str(raw)


def subject_of(message: bytes) -> str:
    return _subject(_header(message))


def _head_features(parsed: email.message.Message) -> frozenset[str]:
    _, addr = email.utils.parseaddr(str(parsed.get("From", "")))
    domain = addr.rsplit("@", 1)[1] if "@" in addr else None
    ctype = parsed.get("Content-Type")
    mailer = parsed.get("X-Mailer", parsed.get("User-Agent"))
    charset: str | None = None
    if ctype is not None:
        raw = parsed.get_param("charset")
        if raw is not None:  # a (charset, language, value) tuple when RFC 2231 encoded
            charset = email.utils.collapse_rfc2231_value(raw)
    return frozenset(
        header_features(
            domain,
            parsed.get_content_type() if ctype is not None else None,
            charset,
            None if mailer is None else str(mailer),
        )
    )


def message_features(message: bytes, text: str | None = None) -> frozenset[str]:
    """The classifier's features of *message*; *text*: its body text
    (store/bodytext.py), when the caller has it already."""
    parsed = _header(message)
    body = body_text(message) if text is None else text
    return features(_subject(parsed), body, _head_features(parsed))


class Prepared:
    """The text work on one message, done at most once for all its recipient
    accounts: the body text (shared with the store's search index when given)
    and the features, computed only when a trained account needs them."""

    __slots__ = ("_features", "_text", "message")

    def __init__(self, message: bytes, text: str | None = None) -> None:
        self.message = message
        self._text = text
        self._features: frozenset[str] | None = None

    def features(self) -> frozenset[str]:
        if self._features is None:
            self._features = message_features(self.message, self._text)
        return self._features

    @property
    def computed(self) -> bool:
        """Whether the features were computed (for tests and benchmarks)."""
        return self._features is not None


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
    """The accounts' filter over their *data*: a JunkData, or a directory of
    accounts (each one's junk.db under <dir>/<account>/)."""

    def __init__(
        self,
        data: JunkData | Path,
        settings: Settings | Callable[[], Settings],
        resolver: Resolver | None,
    ) -> None:
        self.data: JunkData = SQLiteJunkData(data) if isinstance(data, Path) else data
        # A callable follows a configuration that is reloaded (accounts' thresholds).
        self._settings = settings
        self.resolver = resolver

    @property
    def settings(self) -> Settings:
        return self._settings() if callable(self._settings) else self._settings

    def _db(
        self, account: str, *, records: bool = False
    ) -> AbstractContextManager[JunkAccountData]:
        """The account's data (*records*: for the filing records)."""
        return self.data.account(account, records=records)

    def close(self) -> None:
        """Close the open data (at shutdown; later use reopens it)."""
        self.data.close()

    def _signals(self, account: str, prepared: Prepared, verified: Verified, least: int) -> Signals:
        """The signals of the account's junk.db on a message; *least*: the
        training the classifier needs (Thresholds.min_trained)."""
        ids = identities(verified)
        with self._db(account) as db:
            ham, spam = db.totals()
            reputation = judge(ids, db.reputation(ids)) if ids else None
        # An account with too little training has its classifier's verdict
        # ignored (decide.py): no tokenizing, no lookups, only the cheap signals.
        verdict: Verdict | None = None
        if ham >= least and spam >= least:
            feats = prepared.features()
            with self._db(account) as db:
                telling = db.telling(feats)
            verdict = combine(telling)
        return Signals(
            gtube=GTUBE in prepared.message[:READ_LIMIT],
            verdict=verdict,
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

    async def rspamd(self, message: bytes, env: Envelope) -> Answer | None:
        """rspamd's verdict on a message, once for all its recipients (None:
        not configured, or no usable answer in time)."""
        settings = self.settings
        if settings.rspamd is None:
            return None
        return await rspamd_check(settings.rspamd, message, env, settings.rspamd_timeout)

    async def lookups(
        self, message: bytes, env: Envelope
    ) -> tuple[dnsbl.Result | None, Answer | None]:
        """The DNSBL lookups and rspamd's verdict of one message, in parallel."""
        settings = self.settings
        if settings.rspamd is None:
            return await self.listings(env.ip), None
        if not settings.dnsbl_zones:
            return None, await self.rspamd(message, env)
        return await asyncio.gather(self.listings(env.ip), self.rspamd(message, env))

    async def file(
        self,
        account: str,
        message: bytes | Prepared,
        verified: Verified,
        *,
        dmarc_quarantine: bool = False,
        listed: dnsbl.Result | None = None,
        lookup: bool = True,
        checked: Answer | None = None,
    ) -> Filing:
        """Where *message* for *account* goes, and why. *listed*: the message's
        DNSBL results, looked up here when not given (and *lookup*); *checked*:
        rspamd's verdict on the message, when it was asked. A Prepared
        *message* shares its text work with the other recipients' filings."""
        prepared = message if isinstance(message, Prepared) else Prepared(message)
        thresholds = self.settings.for_account(account)  # one reading of a reloading config
        if listed is None and lookup:
            listed = await self.listings(verified.ip)
        zones = tuple(x.zone for x in listed.listed) if listed is not None else ()
        signals = await asyncio.to_thread(
            self._signals, account, prepared, verified, thresholds.min_trained
        )
        signals = replace(
            signals,
            dnsbl=zones,
            dmarc_quarantine=dmarc_quarantine,
            rspamd=(checked.action, checked.score) if checked is not None else None,
        )
        return decide(signals, thresholds)

    def record(self, account: str, key: str, filing: Filing, at: dt.datetime) -> None:
        """Keep where the message *key* was filed and why (blocking)."""
        self.record_many(account, [(key, filing)], at)

    def record_many(
        self, account: str, filings: Sequence[tuple[str, Filing]], at: dt.datetime
    ) -> None:
        """Keep several (key, filing) of *account* in one transaction (blocking)."""
        with self._db(account, records=True) as db:
            db.record_filings(filings, at)

    def filing(self, account: str, key: str) -> Filing | None:
        """Where delivery filed the message *key* (blocking)."""
        if not self.data.has(account):
            return None
        with self._db(account) as db:
            return db.filing(key)

    def train(self, account: str, message: bytes, verified: Verified, *, spam: bool) -> bool:
        """The user's verdict on *message* (blocking: call from a thread)."""
        feats = message_features(message)
        with self._db(account) as db:
            changed = db.train(message_key(message), feats, identities(verified), spam=spam)
        if changed:
            log.info("junk filter trained", extra={"account": account, "spam": spam})
        return changed


def junk_filter(
    cfg: Config, resolver: Resolver | None, data: JunkData | None = None
) -> JunkFilter | None:
    """The accounts' junk filter of *cfg* ([junk] enabled), following its
    reloads (the accounts' own thresholds); None when the filter is off.
    *data*: where the accounts' data is (default: their junk.db files)."""
    if not cfg.static.junk.enabled:
        return None
    return JunkFilter(
        cfg.datadir.accounts_dir if data is None else data, settings_of(cfg), resolver
    )


def settings_of(cfg: Config) -> Callable[[], Settings]:
    """The Settings of *cfg*, made again only when a reload replaced its junk
    section or its domains (several reads per filing; each making them walked
    all the accounts)."""
    made: list[tuple[object, object, Settings]] = []

    def current() -> Settings:
        junk, domains = cfg.static.junk, cfg.domains
        if made and made[0][0] is junk and made[0][1] is domains:
            return made[0][2]
        settings = Settings.from_config(junk, domains.accounts)
        made[:] = [(junk, domains, settings)]
        return settings

    return current
