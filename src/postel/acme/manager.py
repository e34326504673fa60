"""The renewal loop: orders certificates when needed, in a thread, and writes them.

The listeners see new certificates by themselves (postel.tlsreload). With
storage shared by several nodes (postel.acme.storage.CertStorage), one node
orders at a time and the others take in its certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from postel.acme.challenges import Challenges
from postel.acme.client import Settings, ari_time, order_one
from postel.acme.errors import ACMEError, TemporaryACMEError
from postel.acme.rollover import MIN_WAIT, Published, switch_time
from postel.acme.schedule import (
    cert_names,
    is_self_signed,
    needs_order,
    renewal_time,
    retry_delay,
)
from postel.acme.status import LoopStatus, write_status
from postel.acme.storage import KINDS, CertStorage, spki_sha256

log = logging.getLogger("postel.acme")

MAX_SLEEP = 3600.0  # look again at least hourly (clock changes, new domains)
ARI_REFRESH = dt.timedelta(hours=6)  # RFC 9773 §4.3.2 default Retry-After
ROLLOVER_POLL = 300.0  # seconds between looks for a next key's TLSA record
RENEW_ALONG = 0.1  # a key due within this part of its lifetime renews with the other


class ACMEManager:
    def __init__(
        self,
        settings: Settings,
        storage: CertStorage,
        names: Callable[[], list[str]],
        challenges: Challenges,
        *,
        retry_min: float,
        retry_max: float,
        rng: random.Random | None = None,
        tlsa_check: Callable[[str], Awaitable[Published]] | None = None,
        rollover_min_wait: dt.timedelta = MIN_WAIT,
        rollover_poll: float = ROLLOVER_POLL,
        reachable: Callable[[list[str], frozenset[str]], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.store = storage.files
        self.names = names
        self.challenges = challenges
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.rng = rng or random.Random()
        self.failures = 0
        self.last_error: str | None = None
        self.issued = 0  # orders completed since start
        self._renew_at: dict[int, dt.datetime] = {}  # by serial number
        self._ari: dict[int, tuple[dt.datetime, dt.datetime | None]] = {}  # asked, answer
        self.wake = asyncio.Event()
        self.tlsa_check = tlsa_check
        self.rollover_min_wait = rollover_min_wait
        self.rollover_poll = rollover_poll
        self._first_seen: dict[str, dt.datetime] = {}  # next key's TLSA first seen, by kind
        self.rollovers = 0  # keys switched since start
        self.renew_at: dict[str, dt.datetime] = {}  # by key kind, as of the last look
        self.last_issued: dt.datetime | None = None
        # (wanted names, names of the certificates in use) -> the names to order
        # (postel.acme.published); None: every wanted name.
        self.reachable = reachable
        self.left_out: list[str] = []  # wanted names not ordered at the last look

    def _leaf(self, kind: str) -> x509.Certificate | None:
        try:
            return self.store.chain(kind)[0]
        except (OSError, ValueError, IndexError):
            return None

    async def _renew_time(self, cert: x509.Certificate, now: dt.datetime) -> dt.datetime:
        serial = cert.serial_number
        when: dt.datetime | None = None
        if not is_self_signed(cert):
            asked = self._ari.get(serial)
            if asked is None or now - asked[0] > ARI_REFRESH:
                pem = cert.public_bytes(serialization.Encoding.PEM)
                answer = await asyncio.to_thread(ari_time, self.settings, pem)
                self._ari[serial] = (now, answer)
            answer = self._ari[serial][1]
            if answer is not None:
                when = renewal_time(
                    cert.not_valid_before_utc, cert.not_valid_after_utc, self.rng, answer
                )
        if when is None:
            if serial not in self._renew_at:
                self._renew_at[serial] = renewal_time(
                    cert.not_valid_before_utc, cert.not_valid_after_utc, self.rng
                )
            when = self._renew_at[serial]
        return when

    async def _rollover(self, kind: str, names: list[str], now: dt.datetime) -> None:
        """Switch to the next key of *kind* once its TLSA record has been published
        for long enough (RFC 7671 §8.1)."""
        if self.tlsa_check is None:
            return
        key = self.store.next_key(kind)
        seen = await self.tlsa_check(spki_sha256(key))
        if not seen.present:
            self._first_seen.pop(kind, None)
            log.info("dane rollover waits for the next key's TLSA record", extra={"key": kind})
            return
        first = self._first_seen.setdefault(kind, now)
        if now < switch_time(first, seen.ttl, self.rollover_min_wait):
            return
        async with self.storage.exclusive() as mine:
            # Another node switching, or done switching: its key comes with pull().
            if not mine or await self.storage.pull():
                return
            try:
                chain = await asyncio.to_thread(
                    order_one, self.settings, self.store, names, self.challenges, key
                )
            except ACMEError as exc:
                log.error(
                    "dane rollover: certificate order failed", extra={"key": kind, "err": str(exc)}
                )
                return
            self.store.promote(kind, chain.encode("ascii"))
            await self.storage.publish()
        self._first_seen.pop(kind, None)
        self.rollovers += 1
        log.info("dane rollover done: the next key is in use", extra={"key": kind})

    async def _names(self) -> list[str]:
        wanted = self.names()
        if self.reachable is None:
            return wanted
        current: set[str] = set()
        for kind in KINDS:
            cert = self._leaf(kind)
            if cert is not None and not is_self_signed(cert):
                current |= cert_names(cert)
        names = await self.reachable(wanted, frozenset(current))
        left_out = [n for n in wanted if n not in names]
        if left_out != self.left_out:
            if left_out:
                log.warning(
                    "names left out of the certificate until their DNS points at this host",
                    extra={"names": ",".join(left_out)},
                )
            else:
                log.info("every name's DNS points at this host", extra={"names": ",".join(names)})
        self.left_out = left_out
        return names

    async def step(self) -> float:
        """Order if needed; the seconds until the next look."""
        await self.storage.pull()  # what another node ordered meanwhile
        names = await self._names()
        now = dt.datetime.now(dt.UTC)
        pending = self.store.pending_rollovers()
        for kind in pending:
            await self._rollover(kind, names, now)
        reasons: dict[str, str] = {}
        times: dict[str, dt.datetime] = {}
        lifetimes: dict[str, dt.timedelta] = {}
        for kind in KINDS:
            cert = self._leaf(kind)
            times[kind] = await self._renew_time(cert, now) if cert is not None else now
            if cert is not None:
                lifetimes[kind] = cert.not_valid_after_utc - cert.not_valid_before_utc
            reason = needs_order(cert, names, now, times[kind])
            if reason is not None:
                reasons[kind] = reason
        self.renew_at = dict(times)
        if not reasons:
            delay = max(1.0, (min(times.values()) - now).total_seconds())
            return min(delay, self.rollover_poll, MAX_SLEEP) if pending else min(delay, MAX_SLEEP)
        # Keys due soon anyway are renewed along, so they keep one rhythm.
        for kind in KINDS:
            soon = now + lifetimes.get(kind, dt.timedelta(0)) * RENEW_ALONG
            if kind not in reasons and times[kind] <= soon:
                reasons[kind] = "renewal due soon, along with the other key"
        async with self.storage.exclusive() as mine:
            if not mine:
                log.info(
                    "another node is ordering the certificates", extra={"names": ",".join(names)}
                )
                return self.retry_min
            if await self.storage.pull():  # that node's order ended just now
                return 0.0
            return await self._order(names, reasons)

    async def _order(self, names: list[str], reasons: dict[str, str]) -> float:
        log.info(
            "acme order",
            extra={"reason": "; ".join(f"{k}: {r}" for k, r in reasons.items()),
                   "names": ",".join(names)},
        )  # fmt: skip
        written = False
        try:
            for kind in reasons:
                key = self.store.host_key(kind)
                chain = await asyncio.to_thread(
                    order_one, self.settings, self.store, names, self.challenges, key
                )
                self.store.write_chain(kind, chain.encode("ascii"))  # kept if the next fails
                written = True
        except Exception as exc:
            if written:
                await self.storage.publish()
            if not isinstance(exc, ACMEError):  # a bug or the data dir: still retried
                log.exception("certificate order failed unexpectedly")
            self.failures += 1
            self.last_error = str(exc)
            delay = retry_delay(self.failures, self.retry_min, self.retry_max, self.rng)
            log.error(
                "certificate order failed, retrying later",
                extra={
                    "err": str(exc),
                    "temporary": isinstance(exc, TemporaryACMEError),
                    "retry_in": round(delay, 1),
                    "failures": self.failures,
                },
            )
            return delay
        await self.storage.publish()
        self.failures = 0
        self.last_error = None
        self.issued += 1
        self.last_issued = dt.datetime.now(dt.UTC)
        log.info(
            "certificates issued",
            extra={"keys": ",".join(reasons), "names": ",".join(names),
                   "ca": self.settings.directory},
        )  # fmt: skip
        return 0.0

    def status(self, delay: float) -> LoopStatus:
        now = dt.datetime.now(dt.UTC)
        return LoopStatus(
            updated=now,
            directory=self.settings.directory,
            renew_at=self.renew_at,
            next_look=now + dt.timedelta(seconds=max(0.0, min(delay, MAX_SLEEP))),
            failures=self.failures,
            last_error=self.last_error,
            last_issued=self.last_issued,
            left_out=list(self.left_out),
        )

    async def _record(self, delay: float) -> None:
        """data/acme/status.json for `acme status` and the admin (postel.acme.status)."""
        try:
            await asyncio.to_thread(write_status, self.store, self.status(delay))
        except OSError as exc:
            log.warning("acme status not written", extra={"err": str(exc)})

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            try:
                delay = await self.step()
            except Exception:  # never end the loop: certificates would expire
                log.exception("acme loop step failed")
                delay = self.retry_min
            await self._record(delay)
            if delay <= 0:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), min(delay, MAX_SLEEP))
