"""The outgoing queue: durable adds, the delivery loop, retries and DSNs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from postel.datadir import DataDir
from postel.groupcommit import GroupCommit
from postel.log import cid_context
from postel.metrics import record as metrics
from postel.queue import backoff
from postel.queue.db import QueueDB, needs_smtputf8
from postel.queue.deliver import DelivererLike, Outcome, Result, make_request
from postel.queue.dsn import Action, DSNInput, DSNRecipient, build_dsn
from postel.queue.headers import content_flags, flags_from_header, read_header_block, split_header
from postel.queue.model import Entry, QueuedMessage
from postel.store.errors import OverQuota

if TYPE_CHECKING:
    from postel.config import Config
    from postel.store.store import Store
    from postel.tlsrptresultdb import ResultDB

log = logging.getLogger("postel.queue")
T = TypeVar("T")

CONCURRENCY = 10  # recipient domains delivered to at once
POLL_INTERVAL = 5.0  # seconds: notices changes made by the CLI
STOP_TIMEOUT = 30.0  # seconds to let running attempts finish on stop
CLEANUP_INTERVAL = 3600.0  # seconds between orphan file sweeps


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expired_status(enhanced: str) -> str:
    """Status of a recipient given up on after temporary failures (RFC 3463)."""
    if enhanced.startswith("4.") and enhanced != "4.0.0":
        return "5." + enhanced[2:]
    return "5.4.7"  # delivery time expired


def _dsn_rcpt(
    rcpt: str,
    o: Outcome,
    now: dt.datetime,
    action: Action,
    status: str,
    until: dt.datetime | None = None,
) -> DSNRecipient:
    return DSNRecipient(
        rcpt=rcpt,
        action=action,
        status=status,
        code=o.code,
        enhanced=o.enhanced,
        message=o.message,
        remote_mta=o.remote_mta,
        last_attempt=now,
        will_retry_until=until,
    )


class Queue:
    """queue/index.db + queue/msg/; ``start()`` runs the delivery loop."""

    def __init__(
        self,
        datadir: DataDir,
        cfg: Config,
        deliverer: DelivererLike,
        store: Store,
        *,
        resultdb: ResultDB | None = None,
        concurrency: int = CONCURRENCY,
        destination_concurrency: int | None = None,
        poll_interval: float = POLL_INTERVAL,
        stop_timeout: float = STOP_TIMEOUT,
        now: Callable[[], dt.datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.datadir = datadir
        self.cfg = cfg
        self.deliverer = deliverer
        self.store = store
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.now = now
        self.rand = rand
        self._resultdb = resultdb
        self._own_resultdb = False
        self.db = QueueDB.open(datadir)
        self.destination_concurrency = (
            destination_concurrency or cfg.static.delivery.destination_concurrency
        )
        # Attempts' start marks and removals: one transaction for all waiting.
        self._begin = GroupCommit[int](lambda ids: self.db.begin_attempt(ids, self.now()), self._db)
        self._remove = GroupCommit[int](self.db.remove, self._db)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}  # domain -> job
        self._inflight: set[int] = set()
        self._stopping = False
        self._recovered = False

    # -- db access: one call at a time, off the event loop ----------------

    async def _db(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        def call() -> T:
            with self.db.lock:
                return fn(*args, **kw)

        return await asyncio.to_thread(call)

    # -- adding -----------------------------------------------------------

    async def add(
        self,
        account: str,
        mail_from: str,
        rcpts: Sequence[str],
        message_path: Path | bytes,
        *,
        requiretls: bool = False,
        tls_required_no: bool | None = None,
        is_tlsrpt: bool | None = None,
        is_dmarc_report: bool = False,
        max_attempts: int | None = None,
    ) -> list[int]:
        """Queue a message (a complete file or its bytes) for *rcpts*; entry ids.

        Durable when this returns: the SMTP server says 250 after it. The
        TLS-Required: No and TLS-Report-Domain headers are read from the
        message unless given.
        """

        def work() -> list[int]:
            if isinstance(message_path, bytes):
                flags = flags_from_header(
                    split_header(message_path), eightbit=not message_path.isascii()
                )
            else:
                flags = content_flags(Path(message_path))
            tlsrpt = flags.is_tlsrpt if is_tlsrpt is None else is_tlsrpt
            smtputf8 = flags.header_utf8 or needs_smtputf8(mail_from)
            limit = max_attempts or (
                backoff.TLSRPT_MAX_ATTEMPTS
                if tlsrpt or is_dmarc_report
                else backoff.DEFAULT_MAX_ATTEMPTS
            )
            return self.db.add(
                message_path,
                account=account,
                mail_from=mail_from,
                rcpts=list(rcpts),
                # RFC 8689 §4.2.1: never both; REQUIRETLS wins.
                requiretls=requiretls,
                tls_required_no=(
                    flags.tls_required_no if tls_required_no is None else tls_required_no
                )
                and not requiretls,
                is_tlsrpt=tlsrpt,
                is_dmarc_report=is_dmarc_report,
                smtputf8=smtputf8,
                eightbit=flags.eightbit,
                max_attempts=limit,
                now=self.now(),
                subject=flags.subject,
                message_id=flags.message_id,
            )

        ids = await self._db(work)
        self._wake.set()
        return ids

    # -- the loop ---------------------------------------------------------

    def recover(self, *, min_age: float | None = None) -> None:
        """Start-up cleanup: orphan files of crashed adds (see QueueDB.recover)."""
        if not self._recovered:
            if min_age is None:
                self.db.recover()
            else:
                self.db.recover(min_age=min_age)
            self._recovered = True

    def start(self) -> None:
        if self._task is not None:
            return
        self.recover()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="postel-queue")

    @property
    def alive(self) -> bool:
        """The delivery loop runs (for /healthz)."""
        return self._task is not None and not self._task.done()

    def counts(self) -> tuple[int, int]:
        """(entries, entries on hold); any thread (for metrics)."""
        return self.db.counts()

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        log.info("queue started", extra={"concurrency": self.concurrency})
        loop = asyncio.get_running_loop()
        next_cleanup = loop.time() + CLEANUP_INTERVAL
        while not self._stopping:
            self._wake.clear()
            try:
                if loop.time() >= next_cleanup:
                    next_cleanup = loop.time() + CLEANUP_INTERVAL
                    await self._db(self.db.recover)
                await self._schedule()
                timeout = await self._sleep_time()
            except Exception as exc:
                log.exception("queue loop error", extra={"err": repr(exc)})
                timeout = self.poll_interval
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _sleep_time(self) -> float:
        nxt = await self._db(self.db.next_due, set(self._inflight))
        if nxt is None:
            return self.poll_interval
        wait = (nxt - self.now()).total_seconds()
        return min(max(wait, 0.05), self.poll_interval)

    async def _schedule(self) -> list[asyncio.Task[None]]:
        """Start a job for each recipient domain with due entries (bounded)."""
        due = await self._db(self.db.due, self.now(), set(self._inflight))
        by_domain: dict[str, list[Entry]] = {}
        for e in due:
            by_domain.setdefault(e.domain, []).append(e)
        started = []
        for domain, entries in by_domain.items():
            if self._stopping or len(self._running) >= self.concurrency:
                break
            if domain in self._running:
                continue  # one job per domain at a time; picked up when it ends
            self._inflight.update(e.id for e in entries)
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
            self._inflight.difference_update(e.id for e in entries)
            self._wake.set()

        return done

    async def run_due(self) -> None:
        """Start jobs for what is due and wait for them (tests, no loop running)."""
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
        await self._remove.wait_idle()
        self.db.close()
        if self._own_resultdb and self._resultdb is not None:
            self._resultdb.close()
            self._resultdb = None
        log.info("queue stopped")

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
            path = self.db.msg_path(msg.id)
            rcpts = [e.rcpt for e in group]
            attempt = max(e.attempts for e in group) + 1
            log.debug(
                "delivery attempt",
                extra={"msgid": msg.id, "domain": domain, "rcpts": len(rcpts), "attempt": attempt},
            )
            outcomes: Sequence[Outcome]
            if not path.is_file():
                outcomes = [
                    Result(r, "permanent", 0, "5.3.0", "queued message file is missing")
                    for r in rcpts
                ]
            else:
                req = make_request(
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
                    outcomes = await self.deliverer.deliver(req)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("deliverer raised", extra={"domain": domain, "err": repr(exc)})
                    outcomes = [
                        Result(r, "temporary", 0, "4.3.0", f"internal delivery error: {exc!r}")
                        for r in rcpts
                    ]
            await self._apply(msg, group, outcomes)

    async def _apply(
        self, msg: QueuedMessage, group: list[Entry], outcomes: Sequence[Outcome]
    ) -> None:
        now = self.now()
        by_rcpt: dict[str, Outcome] = {}
        for out in outcomes:
            by_rcpt.setdefault(out.rcpt, out)
            by_rcpt.setdefault(out.rcpt.lower(), out)
        done: list[int] = []
        failed: list[DSNRecipient] = []
        delayed: list[DSNRecipient] = []
        for e in group:
            found = by_rcpt.get(e.rcpt) or by_rcpt.get(e.rcpt.lower())
            o: Outcome = (
                found
                if found is not None
                else Result(e.rcpt, "temporary", 0, "4.3.0", "no result for this recipient")
            )
            attempts = e.attempts + 1
            if o.status == "delivered":
                log.info(
                    "delivered", extra={"msgid": msg.id, "rcpt": e.rcpt, "remote": o.remote_mta}
                )
                done.append(e.id)
                metrics.delivery("delivered")
                continue
            if o.status == "permanent":
                log.info(
                    "delivery failed permanently",
                    extra={"msgid": msg.id, "rcpt": e.rcpt, "err": o.message},
                )
                failed.append(_dsn_rcpt(e.rcpt, o, now, "failed", o.enhanced or "5.0.0"))
                done.append(e.id)
                metrics.delivery("failed")
                continue
            nxt = backoff.next_attempt(e.created, now, attempts, e.max_attempts, self.rand())
            if nxt is None:
                log.info(
                    "delivery given up",
                    extra={"msgid": msg.id, "rcpt": e.rcpt, "attempts": attempts, "err": o.message},
                )
                failed.append(_dsn_rcpt(e.rcpt, o, now, "failed", _expired_status(o.enhanced)))
                done.append(e.id)
                metrics.delivery("expired")
                continue
            send_delay = backoff.delay_dsn_due(e.created, now, e.dsn_sent_delay)
            metrics.delivery("deferred")
            log.info(
                "delivery deferred",
                extra={"msgid": msg.id, "rcpt": e.rcpt, "next": nxt.isoformat(), "err": o.message},
            )
            await self._db(
                self.db.reschedule,
                e.id,
                nxt,
                error=o.message,
                code=o.code,
                enhanced=o.enhanced,
                remote_mta=o.remote_mta,
                dsn_sent_delay=True if send_delay else None,
            )
            if send_delay:
                delayed.append(
                    _dsn_rcpt(
                        e.rcpt,
                        o,
                        now,
                        "delayed",
                        o.enhanced or "4.0.0",
                        until=e.created + backoff.MAX_AGE,
                    )
                )
        if failed:
            await self._notify(msg, failed)
        if delayed:
            await self._notify(msg, delayed)
        if done:
            await self._remove(done)

    # -- DSNs -------------------------------------------------------------

    async def _notify(self, msg: QueuedMessage, rcpts: list[DSNRecipient]) -> None:
        """Send a DSN about *rcpts* to the sender, unless none is allowed."""
        if msg.is_tlsrpt or msg.is_dmarc_report:
            # No DSNs about TLS reports (RFC 8460 §5.3) nor about DMARC reports
            # (the sender address takes none); count bounces instead.
            for r in rcpts:
                if r.action == "failed":
                    if msg.is_tlsrpt:
                        await self._record_bounce(r.rcpt)
                    else:
                        await self._record_dmarc_bounce(r.rcpt)
            return
        if not msg.mail_from:
            return  # never a DSN for a DSN (null reverse-path, RFC 5321 §4.5.5)
        try:
            path = self.db.msg_path(msg.id)
            original = await asyncio.to_thread(read_header_block, path) if path.is_file() else b""
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
        await self.add("", "", [msg.mail_from], data)
        log.info("dsn queued", extra={"msgid": msg.id, "to": msg.mail_from})

    async def _record_dmarc_bounce(self, rcpt: str) -> None:
        """A DMARC report bounced: count it; suppress the address at the threshold."""

        def work() -> None:
            from postel.dmarcevaldb import EvalDB

            with EvalDB.open(self.datadir.dmarceval_db) as db:
                if db.record_bounce(rcpt):
                    log.warning(
                        "dmarc report address suppressed after bounces", extra={"rcpt": rcpt}
                    )

        try:
            await asyncio.to_thread(work)
        except Exception as exc:
            log.exception("cannot record report bounce", extra={"rcpt": rcpt, "err": repr(exc)})

    async def _record_bounce(self, rcpt: str) -> None:
        def work() -> None:
            if self._resultdb is None:
                from postel.tlsrptresultdb import ResultDB

                self._resultdb = ResultDB.open(self.datadir.tlsrptresult_db)
                self._own_resultdb = True
            with self._resultdb.lock:
                bounced = self._resultdb.record_bounce(rcpt)
            if bounced:
                log.warning("tls report address suppressed after bounces", extra={"rcpt": rcpt})

        try:
            await asyncio.to_thread(work)
        except Exception as exc:
            log.exception("cannot record report bounce", extra={"rcpt": rcpt, "err": repr(exc)})
