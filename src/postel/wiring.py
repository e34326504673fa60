"""The wiring roots: what each kind of postel process opens, once, and hands
to its parts (docs/architecture.md, Wiring).

One root per process kind:

- :class:`ServeRoot`: ``postel serve`` and ``postel localserve`` (the queue,
  web, IMAP and report loops, and SMTP unless it runs in workers);
- :class:`WorkerRoot`: one SMTP worker process (postel.smtpworkers);
- :class:`CLIRoot`: a CLI command working on the data directory itself
  because no server runs.

With ``[storage] backend = "postgresql"`` the serve and worker roots open the
node's PostgreSQL pool once and hand the parts the PostgreSQL store's
implementations of the same interfaces (postel.pg.nodeparts): delivery,
IMAP's and the webmail's account stores and change notifications
(LISTEN/NOTIFY), logins, the outgoing queue shared by the nodes
(docs/postgresql.md, Running nodes), the outgoing reports' TLS results, DMARC
evaluations, suppression lists and daily runs (postel.pg.reportparts), and
the received reports and MTA-STS policy cache (postel.pg.receivedparts).

A root opens each database of its process once, in a fixed order, on an
exit stack that closes them in reverse order; the parts take what they need
from it as narrow, typed arguments, never the root itself. The account store
is handed out as its interface (postel.store.api), never as SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from postel.config import Config
from postel.datadir import DataDir

if TYPE_CHECKING:
    from postel.config.model import StorageConfig
    from postel.dailyrun import DailyRuns
    from postel.dmarcdb.api import ReceivedDMARCReports
    from postel.dmarcevaldb.api import Evaluations, EvalWriter
    from postel.dns.base import Resolver
    from postel.imapserver.context import Changes
    from postel.imapserver.storeapi import MailStore
    from postel.junk.store import JunkData
    from postel.loginlimit import LoginLimiter
    from postel.mtastsdb import MTASTSDB, PolicyCache
    from postel.pg.housekeeping import Housekeeping
    from postel.pg.livefeed import PgLiveFeed
    from postel.pg.objectstore import ObjectStore
    from postel.pg.pool import Pool
    from postel.pg.receivedparts import PgReceived, PgReceivedConn
    from postel.pg.reportparts import PgReports
    from postel.pg.settings import PgSettings
    from postel.queue.entries import QueueEntries
    from postel.receivedreports import ReceivedReports
    from postel.store.api import Accounts
    from postel.store.credentials import Credentials, Passwords, PasswordStore
    from postel.store.notify import ChangeFeed, LiveFeed
    from postel.store.store import Store
    from postel.tlsrptdb.api import ReceivedTLSReports
    from postel.tlsrptresultdb.api import TLSResults
    from postel.web.sessions import SessionStore

log = logging.getLogger("postel.wiring")


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


def make_resolver(cfg: Config) -> Resolver:
    """The DNS resolver of [dns] (postel.dns.resolver); it holds no files."""
    from postel.dns.resolver import DNSResolver

    return DNSResolver(
        cfg.static.dns.nameservers or None,
        port=cfg.static.dns.port,
        timeout=cfg.static.dns.timeout,
    )


def open_store(cfg: Config) -> Store:
    """The account store of the data directory, with the configured quotas."""
    from postel.store.store import Store

    return Store(cfg.datadir, quota=cfg.account_quota)


def open_mtastsdb(cfg: Config) -> MTASTSDB:
    """The MTA-STS policy cache (RFC 8461 §5), fetching only from the
    internal networks [delivery] allows besides public addresses."""
    from postel.mtastsdb import MTASTSDB
    from postel.netpolicy import AddressPolicy

    return MTASTSDB.open(
        cfg.datadir.mtasts_db,
        extra_ca_files=[cfg.path(p) for p in cfg.static.tls.extra_ca_files],
        addresses=AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks),
    )


def open_pg_mtasts(cfg: Config, received: PgReceived) -> PolicyCache:
    """The MTA-STS policy cache the nodes share, fetching as :func:`open_mtastsdb`."""
    from postel.netpolicy import AddressPolicy
    from postel.pg.mtastscache import PgMTASTSCache

    return PgMTASTSCache(
        received.pool,
        node_id(cfg),
        extra_ca_files=[cfg.path(p) for p in cfg.static.tls.extra_ca_files],
        addresses=AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks),
    )


def on_postgresql(cfg: Config) -> bool:
    return cfg.static.storage.backend == "postgresql"


def pg_settings(storage: StorageConfig, config_dir: Path) -> PgSettings:
    """[storage] as the PostgreSQL store's settings, the password read from its
    file (relative to *config_dir*); PgSettingsError says what and where."""
    from postel.pg.settings import PgSettings, read_password

    path = config_dir / storage.password_file if storage.password_file else None
    settings = PgSettings(
        dsn=storage.dsn,
        password=read_password(path),
        pool_max=storage.pool_size,
        connect_timeout=storage.connect_timeout,
    )
    settings.conninfo()  # the DSN is checked once more, with the password added
    return settings


def pg_objects(storage: StorageConfig, config_dir: Path) -> ObjectStore | None:
    """The object store of message bodies of [storage.object_store]; None when
    no endpoint is set (bodies in PostgreSQL). PgSettingsError says what and where."""
    conf = storage.object_store
    if not conf.endpoint:
        return None
    from postel.pg.objectstore import ObjectStore, ObjectStoreSettings, read_secret

    return ObjectStore(
        ObjectStoreSettings(
            endpoint=conf.endpoint,
            bucket=conf.bucket,
            access_key_id=conf.access_key_id,
            secret=read_secret(config_dir / conf.secret_file),
            region=conf.region,
            key_prefix=conf.key_prefix,
            timeout=conf.timeout,
        )
    )


def node_id(cfg: Config) -> str:
    """This node's name among the nodes: [storage] node_id, else host:pid."""
    from postel.pg.queue import default_node

    return cfg.static.storage.node_id or default_node()


def pg_body_cache(cfg: Config) -> Path:
    """The node's local copies of message bodies that IMAP reads (postel.pg.syncstore)."""
    return cfg.datadir.root / "pg-bodies"


def pg_housekeeping(cfg: Config, pg: PgParts) -> Housekeeping:
    """The node's periodic storage jobs: its body copies' bound, the sweeps of
    body rows and of the object store (postel.pg.housekeeping)."""
    from postel.pg.housekeeping import Housekeeping

    storage = cfg.static.storage
    return Housekeeping(
        pg.pool,
        pg_body_cache(cfg),
        storage.body_cache_size * 1024 * 1024,
        pg.objects,
        sweep_every=storage.object_store.sweep_every,
        sweep_pages=storage.object_store.sweep_pages,
        grace=storage.object_store.sweep_grace,
        body_sweep_every=storage.body_sweep_every,
        body_grace=storage.body_sweep_grace,
    )


def open_queue_entries(cfg: Config) -> QueueEntries:
    """The outgoing queue's entries: the data directory's, or on the PostgreSQL
    store those of all nodes, claimed with leases under this node's id."""
    if not on_postgresql(cfg):
        from postel.queue import SQLiteQueueEntries

        return SQLiteQueueEntries(cfg.datadir)
    from postel.pg.queue import PgQueueEntries

    return PgQueueEntries(
        pg_settings(cfg.static.storage, cfg.dir),
        cfg.datadir.queue_dir / "pg-spool",
        node=node_id(cfg),
        lease=cfg.static.storage.queue_lease,
    )


@dataclass(frozen=True)
class PgParts:
    """What a node opens of the PostgreSQL store: delivery, IMAP's account
    stores, logins and their limits over one pool; the junk filter's data
    (when [junk] is on) over a synchronous pool of its own, used from threads."""

    settings: PgSettings
    accounts: Accounts
    open_mailstore: Callable[[str], MailStore]
    credentials: PasswordStore
    pool: Pool

    def limiter(self, cfg: Config, stack: AsyncExitStack) -> LoginLimiter:
        """The login limiter counting in PostgreSQL: the failures of every node."""
        from postel.loginlimit import LoginLimiter
        from postel.pg.loginlimits import PgLoginLimits

        limiter = LoginLimiter(
            cfg.datadir.auth_db,
            cfg.static.login_limit.settings(),
            shared=PgLoginLimits(self.pool, self.settings.where),
        )
        stack.callback(limiter.close)
        return limiter

    junk: JunkData | None = None
    objects: ObjectStore | None = None  # where bodies are kept outside the database


async def open_pg(cfg: Config, stack: AsyncExitStack, *, migrate: bool = False) -> PgParts:
    """Check the schema version (*migrate*: run the pending migrations first,
    as `postel serve` does), then open the node's pool on *stack*. A problem
    (no connection, a schema to migrate or newer than this program) is a
    PgError of one line."""
    from postel.pg.check import check_store, migrate_at_start
    from postel.pg.credentials import PgCredentials
    from postel.pg.errors import PgError
    from postel.pg.nodeparts import PgAccounts, PgPasswords
    from postel.pg.pool import open_pool

    settings = pg_settings(cfg.static.storage, cfg.dir)
    if migrate:
        await migrate_at_start(settings)
    found = await check_store(settings)
    if found.problem:
        raise PgError(f"[storage] {found.text}")
    pool = await open_pool(settings)
    stack.push_async_callback(pool.close)
    from postel.pg.accountstore import PgStore

    loop = asyncio.get_running_loop()
    objects = pg_objects(cfg.static.storage, cfg.dir)
    if objects is not None:
        stack.callback(objects.close)
    accounts = PgAccounts(PgStore(pool, objects, quota=cfg.account_quota), loop, pg_body_cache(cfg))
    stack.callback(accounts.close)
    credentials = PgPasswords(PgCredentials(pool), loop)
    junk: JunkData | None = None
    if cfg.static.junk.enabled:
        from postel.pg.junkstore import PgJunkData
        from postel.pg.pool import open_sync_pool

        junk_pool = await asyncio.to_thread(
            functools.partial(open_sync_pool, settings, name="junk", max_size=settings.pool_max)
        )
        stack.callback(junk_pool.close)
        junk = PgJunkData(junk_pool)
    return PgParts(settings, accounts, accounts.mailstore, credentials, pool, junk, objects)


async def open_pg_reports(cfg: Config, stack: AsyncExitStack, *, pool_size: int) -> PgReports:
    """The outgoing reports' data shared by the nodes, on a pool of its own
    (closed with *stack*)."""
    from postel.pg.reportparts import open_reports

    settings = pg_settings(cfg.static.storage, cfg.dir)
    reports = await asyncio.to_thread(open_reports, settings, node_id(cfg), pool_size=pool_size)
    stack.callback(reports.close)
    return reports


async def open_pg_received(cfg: Config, stack: AsyncExitStack) -> PgReceived:
    """The received reports and the MTA-STS cache shared by the nodes, on a
    pool of their own (closed with *stack*)."""
    from postel.pg.receivedparts import open_received

    received = await asyncio.to_thread(open_received, pg_settings(cfg.static.storage, cfg.dir))
    stack.callback(received.close)
    return received


CHECKPOINT_SECONDS = 60.0


async def _advance_checkpoints(store: Store) -> None:
    """Every CHECKPOINT_SECONDS, the store's recovery checkpoints are raised
    over the mail delivered meanwhile (store/recovery.py)."""
    while True:
        await asyncio.sleep(CHECKPOINT_SECONDS)
        try:
            await asyncio.to_thread(store.advance_checkpoints)
        except Exception as exc:  # retried at the next round
            log.warning("store checkpoint not advanced", extra={"err": repr(exc)})


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _recover_at_stop(store: Store) -> None:
    store.batcher.close()
    store.recover()


@dataclass(frozen=True)
class ServeRoot:
    """What the serve process opens once: the account store and its change
    feed, the passwords and login limits of auth.db, the MTA-STS cache, the
    outgoing TLS results and the resolver. On the PostgreSQL store: its pool
    with the accounts, passwords, change notifications and login limits of
    all nodes, the reports' TLS results, DMARC evaluations and daily runs
    they share, the received reports and the MTA-STS cache."""

    cfg: Config
    resolver: Resolver
    accounts: Accounts  # the account store as the parts see it (postel.store.api)
    store: Store | None  # the SQLite store (None on PostgreSQL)
    feed: ChangeFeed | None  # the SQLite store's change feed
    credentials: Passwords
    limiter: LoginLimiter
    mtastsdb: PolicyCache
    resultdb: TLSResults
    # On PostgreSQL: IMAP's account stores and the changes of every node.
    changes: Changes | None = None
    open_mailstore: Callable[[str], MailStore] | None = None
    # On PostgreSQL: the DMARC evaluations of every node and who sends a day's
    # reports (None: dmarceval.db of the data directory, every run sends).
    evaldb: Evaluations | None = None
    daily_runs: DailyRuns | None = None
    # The webmail's live updates: the change feed, or on PostgreSQL the
    # changes of every node (postel.pg.livefeed).
    live_feed: PgLiveFeed | None = None
    # Web sessions by scope ("admin", "webmail"): in memory, or on PostgreSQL
    # in the database, so that every node knows them (postel.pg.websessions).
    web_sessions: Callable[[str], SessionStore] | None = None
    # The passwords as the web pages use them, when not auth.db's (on PostgreSQL).
    web_passwords: PasswordStore | None = None

    @property
    def live(self) -> LiveFeed | None:
        return self.feed if self.feed is not None else self.live_feed

    # On PostgreSQL: the received reports of every node (None: the data
    # directory's tlsrpt.db and dmarcrpt.db, opened where used).
    received: ReceivedReports | None = None
    junk_data: JunkData | None = None  # the junk filter's (None: its junk.db files)

    @classmethod
    async def open(cls, cfg: Config, stack: AsyncExitStack) -> ServeRoot:
        """Open everything on *stack* (closed in reverse order when it ends)."""
        if on_postgresql(cfg):
            return await cls._open_pg(cfg, stack)
        from postel.loginlimit import LoginLimiter
        from postel.store.credentials import Credentials
        from postel.store.notify import ChangeFeed
        from postel.tlsrptresultdb import ResultDB

        cfg.datadir.ensure()
        resolver = make_resolver(cfg)
        store = open_store(cfg)
        stack.callback(store.close)
        # Rows left by a crash between a commit and its file's fsync (never
        # acknowledged) go before anything delivers; at a clean stop, after
        # every delivery ended (stopped by later callbacks of *stack*), the pass
        # raises the checkpoint so that the next start checks nothing
        # (store/recovery.py).
        await asyncio.to_thread(store.recover)
        stack.callback(_recover_at_stop, store)
        checkpoints = asyncio.create_task(_advance_checkpoints(store), name="store-checkpoints")
        stack.push_async_callback(_cancel, checkpoints)
        # Changes committed by any process (SMTP workers too) reach the webmail
        # and IMAP watchers here (docs/decisions.md, change notifications).
        feed = ChangeFeed(
            cfg.datadir.tmp,
            recheck=lambda name: store.account(name, create=False).highest_modseq(),
        )
        await feed.start()
        stack.push_async_callback(feed.stop)
        credentials = Credentials(cfg.datadir.auth_db)
        stack.callback(credentials.close)
        # One limiter for SMTP AUTH, IMAP and the web logins of this process;
        # the SMTP workers have their own, sharing the counts through auth.db.
        limiter = LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings())
        stack.callback(limiter.close)
        mtastsdb = open_mtastsdb(cfg)
        stack.callback(mtastsdb.close)
        resultdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
        stack.callback(resultdb.close)
        return cls(cfg, resolver, store, store, feed, credentials, limiter, mtastsdb, resultdb)

    @classmethod
    async def _open_pg(cls, cfg: Config, stack: AsyncExitStack) -> ServeRoot:
        from postel.pg.listener import ChangeListener
        from postel.pg.livefeed import PgLiveFeed
        from postel.pg.reportparts import POOL_SIZE as POOL_SIZE_REPORTS
        from postel.pg.websessions import PgSessionStore
        from postel.receivedreports import ReceivedReports

        cfg.datadir.ensure()
        # The schema migrated forward at start, as the SQLite databases are
        # when opened (once for nodes starting together: postel.pg.migrate).
        pg = await open_pg(cfg, stack, migrate=True)
        # One LISTEN connection: IMAP IDLE hears what any node commits.
        listener = ChangeListener(pg.settings)
        await listener.start(timeout=cfg.static.storage.connect_timeout)
        stack.push_async_callback(listener.stop)
        # The webmail's pages too (their streams are ended by the server).
        live = PgLiveFeed(listener)
        # Failed logins counted across the nodes (postel.pg.loginlimits).
        limiter = pg.limiter(cfg, stack)
        # Shared: received reports and the MTA-STS cache.
        pg_received = await open_pg_received(cfg, stack)
        mtastsdb = open_pg_mtasts(cfg, pg_received)
        # Shared: TLS results, DMARC evaluations, suppression lists, daily runs.
        reports = await open_pg_reports(cfg, stack, pool_size=POOL_SIZE_REPORTS)
        # The node's body copies bounded, the object store swept (postel.pg.housekeeping).
        housekeeping = asyncio.create_task(pg_housekeeping(cfg, pg).run(), name="pg-housekeeping")
        stack.push_async_callback(_cancel, housekeeping)
        return cls(
            cfg,
            make_resolver(cfg),
            pg.accounts,
            None,
            None,
            pg.credentials,
            limiter,
            mtastsdb,
            reports.results,
            changes=listener,
            open_mailstore=pg.open_mailstore,
            evaldb=reports.evaluations,
            daily_runs=reports.runs,
            live_feed=live,
            web_sessions=functools.partial(PgSessionStore, pg.pool),
            web_passwords=pg.credentials,
            received=ReceivedReports(pg_received.tls, pg_received.dmarc),
            junk_data=pg.junk,
        )


@dataclass(frozen=True)
class WorkerRoot:
    """What one SMTP worker process opens: the account store, auth.db and the
    resolver (on PostgreSQL: the node's pool, for the login limits too). The
    worker adds to the queue; the serve process delivers. Its report intake
    stores from a child process, which connects to PostgreSQL itself
    (postel.reportintake.stores): the worker opens nothing for it."""

    cfg: Config
    resolver: Resolver
    store: Store | None  # the SQLite store (None on PostgreSQL)
    credentials: Passwords
    limiter: LoginLimiter
    pg_accounts: Accounts | None = None
    # On PostgreSQL: where the DMARC evaluations of incoming mail go (shared
    # by the nodes); None: dmarceval.db of the data directory.
    evaluations: EvalWriter | None = None
    junk_data: JunkData | None = None  # the junk filter's (None: its junk.db files)

    @property
    def accounts(self) -> Accounts:
        if self.pg_accounts is not None:
            return self.pg_accounts
        assert self.store is not None
        return self.store

    @classmethod
    def open(cls, cfg: Config, stack: ExitStack) -> WorkerRoot:
        """Open everything on *stack* (closed in reverse order when it ends)."""
        from postel.loginlimit import LoginLimiter
        from postel.store.credentials import Credentials

        store = open_store(cfg)
        stack.callback(store.close)
        credentials = Credentials(cfg.datadir.auth_db)
        stack.callback(credentials.close)
        limiter = LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings())
        stack.callback(limiter.close)
        return cls(cfg, make_resolver(cfg), store, credentials, limiter)

    @classmethod
    async def open_pg(cls, cfg: Config, stack: AsyncExitStack) -> WorkerRoot:
        """On the PostgreSQL store: the node's pool (one per worker process),
        and one connection for the DMARC evaluations of its sessions (when
        DMARC reports are sent)."""
        pg = await open_pg(cfg, stack)
        limiter = pg.limiter(cfg, stack)
        evaluations: EvalWriter | None = None
        if not cfg.static.reports.no_outgoing_dmarc_reports:
            evaluations = (await open_pg_reports(cfg, stack, pool_size=1)).evaluations
        return cls(
            cfg,
            make_resolver(cfg),
            None,
            pg.credentials,
            limiter,
            pg.accounts,
            evaluations=evaluations,
            junk_data=pg.junk,
        )


class CLIRoot:
    """A CLI command's view of the data directory when no server runs: each
    database opened on first use, once per process, and all closed in reverse
    order when the command ends (``with CLIRoot(cfg.datadir) as root``).

    Made with :meth:`for_config` on a PostgreSQL configuration, the outgoing
    reports' results, evaluations, suppression lists and daily runs are those
    the nodes share, and the queue and the received reports are theirs."""

    def __init__(self, datadir: DataDir, *, cfg: Config | None = None) -> None:
        self.datadir = datadir
        self._cfg = cfg if cfg is not None and on_postgresql(cfg) else None
        self._stack = ExitStack()
        self._opened: dict[str, _Closable] = {}

    @classmethod
    def for_config(cls, cfg: Config) -> CLIRoot:
        return cls(cfg.datadir, cfg=cfg)

    def _pg_reports(self, cfg: Config) -> PgReports:
        from postel.pg.reportparts import open_reports

        return self._once(
            "pgreports",
            lambda: open_reports(pg_settings(cfg.static.storage, cfg.dir), node_id(cfg)),
        )

    @property
    def daily_runs(self) -> DailyRuns:
        """Whether a command's run sends a day's reports (postel.dailyrun)."""
        from postel.dailyrun import EveryRun

        if self._cfg is not None:
            return self._pg_reports(self._cfg).runs
        return EveryRun()

    def _once(self, name: str, open_: Callable[[], _C]) -> _C:
        """The database *name*, opened by *open_* the first time only."""
        if name not in self._opened:
            db = open_()
            self._stack.callback(db.close)
            self._opened[name] = db
        return cast(_C, self._opened[name])

    @property
    def store(self) -> Store:
        """The account store (for a queue submitter); other code uses `accounts`."""
        from postel.store.store import Store

        return self._once("store", lambda: Store(self.datadir))

    @property
    def accounts(self) -> Accounts:
        return self.store

    @property
    def credentials(self) -> Credentials:
        from postel.store.credentials import Credentials

        def open_() -> Credentials:
            self.datadir.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            return Credentials(self.datadir.auth_db)

        return self._once("credentials", open_)

    @property
    def queue_entries(self) -> QueueEntries:
        """The outgoing queue's entries (queue/index.db, or the nodes' queue)."""
        from postel.queue.entries import SQLiteQueueEntries

        if self._cfg is not None:
            cfg = self._cfg
            return self._once("queue", lambda: open_queue_entries(cfg))
        return self._once("queue", lambda: SQLiteQueueEntries(self.datadir))

    @property
    def resultdb(self) -> TLSResults:
        """The outgoing TLS results and their suppression list (tlsrptresult.db)."""
        from postel.tlsrptresultdb import ResultDB

        if self._cfg is not None:
            return self._pg_reports(self._cfg).results

        def open_() -> ResultDB:
            self.datadir.ensure()
            return ResultDB.open(self.datadir.tlsrptresult_db)

        return self._once("resultdb", open_)

    @property
    def evaldb(self) -> Evaluations:
        """The DMARC evaluations and their suppression list (outgoing reports)."""
        from postel.dmarcevaldb import EvalDB

        if self._cfg is not None:
            return self._pg_reports(self._cfg).evaluations

        def open_() -> EvalDB:
            self.datadir.ensure()
            return EvalDB.open(self.datadir.dmarceval_db)

        return self._once("evaldb", open_)

    def _pg_received(self, cfg: Config) -> PgReceivedConn:
        from postel.pg.receivedparts import connect_received

        return self._once(
            "pgreceived", lambda: connect_received(pg_settings(cfg.static.storage, cfg.dir))
        )

    @property
    def tlsrptdb(self) -> ReceivedTLSReports:
        """The received TLS reports (tlsrpt.db, or the nodes' on PostgreSQL)."""
        from postel import tlsrptdb

        if self._cfg is not None:
            return self._pg_received(self._cfg).tls
        return self._once("tlsrptdb", lambda: tlsrptdb.open(self.datadir.tlsrpt_db))

    @property
    def dmarcdb(self) -> ReceivedDMARCReports:
        """The received DMARC aggregate reports (dmarcrpt.db, or the nodes' on PostgreSQL)."""
        from postel import dmarcdb

        if self._cfg is not None:
            return self._pg_received(self._cfg).dmarc
        return self._once("dmarcdb", lambda: dmarcdb.open(self.datadir.dmarcrpt_db))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> CLIRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
