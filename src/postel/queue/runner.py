"""The delivery loop: claims due entries per recipient domain, runs attempts
(bounded overall and per destination), sends DSNs (RFC 3464) and has each
attempt's outcome recorded (postel.queue.recorder)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable

from postel.config import Config
from postel.delivery.request import DeliveryOutcome, DeliveryRequest
from postel.groupcommit import GroupCommit
from postel.log import cid_context
from postel.metrics import record as metrics
from postel.queue.deliver import DelivererLike, failed_outcome
from postel.queue.dsn import DSNInput, DSNRecipient, build_dsn
from postel.queue.entries import QueueEntries
from postel.queue.errors import QueueUnavailable
from postel.queue.model import Entry, QueuedMessage
from postel.queue.plan import AttemptPlan, plan_attempt
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.store.api import Accounts
from postel.store.errors import OverQuota

log = logging.getLogger("postel.queue")

POLL_INTERVAL = 5.0  # seconds: notices changes made by the CLI
STOP_TIMEOUT = 30.0  # seconds to let running attempts finish on stop
CLEANUP_INTERVAL = 3600.0  # seconds between orphan file sweeps


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class QueueRunner:
    """The loop over a :class:`QueueEntries`; ``start()`` runs it."""

    def __init__(
        self,
        cfg: Config,
        entries: QueueEntries,
        deliverer: DelivererLike,
        recorder: OutcomeRecorder,
        store: Accounts,
        *,
        concurrency: int | None = None,
        destination_concurrency: int | None = None,
        poll_interval: float = POLL_INTERVAL,
        stop_timeout: float = STOP_TIMEOUT,
        now: Callable[[], dt.datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.cfg = cfg
        self.entries = entries
        self.deliverer = deliverer
        self.recorder = recorder
        self.store = store
        # Recipient domains delivered to at once ([delivery] domain_concurrency).
        self.concurrency = concurrency or cfg.static.delivery.domain_concurrency
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.now = now
        self.rand = rand
        self.destination_concurrency = (
            destination_concurrency or cfg.static.delivery.destination_concurrency
        )
        # Attempts' start marks: one transaction for all waiting.
        self._begin = GroupCommit[int](self.entries.begin_attempt)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}  # domain -> job
        self._stopping = False
        self._recovered = False
        entries.on_added(self._added)

    def _added(self) -> None:
        """An entry was added in this process (any thread): deliver it soon."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    # -- the loop ---------------------------------------------------------

    def recover(self, *, min_age: float | None = None) -> None:
        """Start-up cleanup: orphan files of crashed adds (see QueueEntries.recover)."""
        if not self._recovered:
            self.entries.recover(min_age=min_age)
            self._recovered = True

    def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.recover()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="postel-queue")
        every = self.entries.renew_every
        if every is not None and self._renewer is None:
            self._renewer = asyncio.create_task(self._renew(every), name="postel-queue-leases")

    @property
    def alive(self) -> bool:
        """The delivery loop runs (for /healthz)."""
        return self._task is not None and not self._task.done()

    def counts(self) -> tuple[int, int]:
        """(entries, entries on hold); any thread (for metrics)."""
        return self.entries.counts()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        log.info("queue started", extra={"concurrency": self.concurrency})
        loop = asyncio.get_running_loop()
        next_cleanup = loop.time() + CLEANUP_INTERVAL
        unavailable = False
        while not self._stopping:
            self._wake.clear()
            try:
                if loop.time() >= next_cleanup:
                    next_cleanup = loop.time() + CLEANUP_INTERVAL
                    await asyncio.to_thread(self.entries.recover)
                await self._schedule()
                timeout = await self._sleep_time()
            except QueueUnavailable as exc:
                # A shared store down: one warning, then quiet retries.
                if not unavailable:
                    log.warning("queue store unavailable", extra={"err": str(exc)})
                unavailable = True
                timeout = self.poll_interval
            except Exception as exc:
                log.exception("queue loop error", extra={"err": repr(exc)})
                timeout = self.poll_interval
            else:
                if unavailable:
                    log.info("queue store available again")
                unavailable = False
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _sleep_time(self) -> float:
        nxt = await asyncio.to_thread(self.entries.next_due)
        if nxt is None:
            return self.poll_interval
        wait = (nxt - self.now()).total_seconds()
        return min(max(wait, 0.05), self.poll_interval)

    async def _schedule(self) -> list[asyncio.Task[None]]:
        """Start a job for each recipient domain with due entries (bounded)."""
        free = self.concurrency - len(self._running)
        if self._stopping or free <= 0:
            return []
        # One job per domain at a time; a busy domain's entries wait for its end.
        claimed = await asyncio.to_thread(
            self.entries.claim_due, self.now(), max_domains=free, busy=set(self._running)
        )
        started = []
        for domain, entries in claimed.items():
            task = asyncio.create_task(self._job(domain, entries), name=f"queue-{domain}")
            self._running[domain] = task
            task.add_done_callback(self._job_done_callback(domain, entries))
            started.append(task)
        return started

    def _job_done_callback(
        self, domain: str, entries: list[Entry]
    ) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(domain, None)
            # Entries without a recorded outcome (cancelled, failed) are free again.
            try:
                self.entries.unclaim({e.id for e in entries})
            except QueueUnavailable as exc:  # a shared store's lease ends by itself
                log.warning("queue claims not released", extra={"err": str(exc)})
            self._wake.set()

        return done

    async def run_due(self) -> None:
        """Start jobs for what is due and wait for them (tests, no loop running)."""
        self._loop = asyncio.get_running_loop()
        self.recover()
        tasks = await self._schedule()
        if tasks:
            await asyncio.gather(*tasks)

    async def stop(self, timeout: float | None = None) -> None:
        """Stop the loop; let running attempts finish (up to *timeout*), then
        cancel them. Entries of cancelled attempts stay queued and are retried."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        running = list(self._running.values())
        if running:
            _done, pending = await asyncio.wait(
                running, timeout=self.stop_timeout if timeout is None else timeout
            )
            for t in pending:
                t.cancel()
            if pending:
                log.warning("cancelled running delivery attempts", extra={"count": len(pending)})
                await asyncio.gather(*pending, return_exceptions=True)
        await self._begin.wait_idle()
        await self.recorder.wait_idle()
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        log.info("queue stopped")

    async def _renew(self, every: float) -> None:
        """Renew this node's claims every *every* seconds while attempts run
        (a shared store's leases), until stop()."""
        failing = False
        while True:
            await asyncio.sleep(every)
            if not self._running:
                continue
            try:
                await asyncio.to_thread(self.entries.renew_claims)
            except QueueUnavailable as exc:
                if not failing:
                    log.warning("queue claims not renewed", extra={"err": str(exc)})
                failing = True
            except Exception as exc:
                log.exception("queue claims not renewed", extra={"err": repr(exc)})
            else:
                failing = False

    # -- one domain -------------------------------------------------------

    async def _job(self, domain: str, entries: list[Entry]) -> None:
        """The domain's messages, up to destination_concurrency at once; the
        recipients of one message are one attempt (one SMTP transaction)."""
        groups: dict[int, list[Entry]] = {}
        for e in entries:
            groups.setdefault(e.msg.id, []).append(e)
        todo = list(groups.values())
        todo.reverse()

        async def worker() -> None:
            while todo and not self._stopping:
                group = todo.pop()
                try:
                    await self._attempt(domain, group)
                except asyncio.CancelledError:
                    raise
                except QueueUnavailable as exc:
                    # Not started, or its outcome not recorded: the entries
                    # stay as they were and are tried again once the store is back.
                    log.warning(
                        "queue attempt interrupted: store unavailable",
                        extra={"domain": domain, "err": str(exc)},
                    )
                except Exception as exc:
                    log.exception(
                        "queue attempt failed", extra={"domain": domain, "err": repr(exc)}
                    )

        n = min(self.destination_concurrency, len(todo))
        await asyncio.gather(*(worker() for _ in range(n)))

    async def _attempt(self, domain: str, group: list[Entry]) -> None:
        msg = group[0].msg
        with cid_context():
            await self._begin([e.id for e in group])
            rcpts = [e.rcpt for e in group]
            attempt = max(e.attempts for e in group) + 1
            log.debug(
                "delivery attempt",
                extra={"msgid": msg.id, "domain": domain, "rcpts": len(rcpts), "attempt": attempt},
            )
            outcome = await self._deliver(domain, msg, rcpts, attempt)
            plan = plan_attempt(msg, group, outcome.recipients, self.now(), self.rand)
            self._log_plan(msg, plan)
            if plan.failed:
                await self._notify(msg, plan.failed)
            if plan.delayed:
                await self._notify(msg, plan.delayed)
            await self.recorder.record(
                AttemptRecord(
                    outcome,
                    done=plan.done,
                    deferred=plan.deferred,
                    tlsrpt_bounces=plan.tlsrpt_bounces,
                    dmarc_bounces=plan.dmarc_bounces,
                )
            )

    async def _deliver(
        self, domain: str, msg: QueuedMessage, rcpts: list[str], attempt: int
    ) -> DeliveryOutcome:
        # Off the loop: a shared store fetches the content over the network.
        path = await asyncio.to_thread(self.entries.message_file, msg.id)
        if path is None:
            return failed_outcome(rcpts, "permanent", "5.3.0", "queued message file is missing")
        req = DeliveryRequest(
            domain=domain,
            mail_from=msg.mail_from,
            rcpts=rcpts,
            message=path,
            size=msg.size,
            requiretls=msg.requiretls,
            tls_required_no=msg.tls_required_no,
            is_tlsrpt=msg.is_tlsrpt,
            is_dmarc_report=msg.is_dmarc_report,
            sender_account=msg.sender_account or None,
            smtputf8=msg.smtputf8,
            eightbit=msg.eightbit,
            attempt=attempt,
        )
        try:
            return await self.deliverer.deliver(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("deliverer raised", extra={"domain": domain, "err": repr(exc)})
            return failed_outcome(rcpts, "temporary", "4.3.0", f"internal delivery error: {exc!r}")

    @staticmethod
    def _log_plan(msg: QueuedMessage, plan: AttemptPlan) -> None:
        for v in plan.verdicts:
            o, rcpt = v.outcome, v.entry.rcpt
            if v.verdict == "delivered":
                log.info("delivered", extra={"msgid": msg.id, "rcpt": rcpt, "remote": o.remote_mta})
            elif v.verdict == "failed":
                log.info(
                    "delivery failed permanently",
                    extra={"msgid": msg.id, "rcpt": rcpt, "err": o.message},
                )
            elif v.verdict == "expired":
                log.info(
                    "delivery given up",
                    extra={"msgid": msg.id, "rcpt": rcpt, "attempts": v.attempts, "err": o.message},
                )
            else:
                assert v.next_attempt is not None
                log.info(
                    "delivery deferred",
                    extra={
                        "msgid": msg.id,
                        "rcpt": rcpt,
                        "next": v.next_attempt.isoformat(),
                        "err": o.message,
                    },
                )
            metrics.delivery(v.verdict)

    # -- DSNs -------------------------------------------------------------

    async def _notify(self, msg: QueuedMessage, rcpts: list[DSNRecipient]) -> None:
        """Send a DSN about *rcpts* to the sender."""
        try:
            original = await asyncio.to_thread(self.entries.header_block, msg.id)
            data = build_dsn(
                DSNInput(
                    reporting_mta=self.cfg.static.hostname,
                    mail_from=msg.mail_from,
                    arrival=msg.created,
                    original=original,
                    recipients=rcpts,
                    now=self.now(),
                    subject=msg.subject,
                    message_id=msg.message_id,
                )
            )
            await self._deliver_dsn(msg, data)
        except Exception as exc:
            log.exception("cannot send dsn", extra={"msgid": msg.id, "err": repr(exc)})

    async def _deliver_dsn(self, msg: QueuedMessage, data: bytes) -> None:
        from postel.store.routing import INBOX, resolve_for_config

        targets: list[tuple[str, str]] = []
        if msg.sender_account:
            targets = [(msg.sender_account, INBOX)]
        else:
            dest = resolve_for_config(self.cfg, msg.mail_from)
            if dest is not None:
                targets = list(dest.accounts)
        if targets:
            _, error = await self.store.deliver_bytes(targets, data)
            if isinstance(error, OverQuota):
                # No room for the report: dropped, never bounced again (no loop).
                log.warning(
                    "dsn dropped: recipient account over quota",
                    extra={"msgid": msg.id, "to": msg.mail_from, "account": error.account},
                )
                return
            if error is not None:
                raise error
            log.info("dsn delivered locally", extra={"msgid": msg.id, "to": msg.mail_from})
            return
        # A remote sender (mail forwarded by an alias): queue with the null sender.
        await asyncio.to_thread(self.entries.add, "", "", [msg.mail_from], data)
        log.info("dsn queued", extra={"msgid": msg.id, "to": msg.mail_from})
