"""A config, store, caches and a scripted SMTP session for Deliverer unit tests
(imported by tests/delivery/conftest.py and the tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from postel.config import Config, load_config
from postel.delivery import Deliverer, DeliveryOutcome, DeliveryRequest, RecipientOutcome
from postel.errors import SMTPReplyError
from postel.mtastsdb import MTASTSDB
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.smtpclient import DataReply, RcptResult, SessionResult, TLSMode
from postel.store import Store
from postel.tlsrptresultdb import ResultDB

STATIC = """
hostname = "mail.sender.example"
postmaster_account = "alice"
[listeners]
[delivery]
local_only = LOCAL_ONLY
smtp_port = 2525
connect_timeout = 5
allowed_internal_networks = ["192.0.2.0/24"]  # the tests' documentation addresses
"""

DOMAINS = """
[domains."sender.example"]
[accounts.alice]
domain = "sender.example"
addresses = ["alice@sender.example"]
[accounts.bob]
domain = "sender.example"
addresses = ["bob@sender.example"]
"""


def make_config(tmp: Path, *, local_only: bool = False, extra: str = "") -> Config:
    (tmp / "postel.toml").write_text(
        STATIC.replace("LOCAL_ONLY", "true" if local_only else "false") + extra
    )
    (tmp / "domains.toml").write_text(DOMAINS)
    cfg = load_config(tmp)
    cfg.datadir.ensure()
    return cfg


def accept(**kw: Any) -> Callable[[dict[str, Any]], SessionResult]:
    """A session that negotiates TLS (unless mode SKIP) and accepts all recipients."""

    def run(args: dict[str, Any]) -> SessionResult:
        tls = args["tls"].mode != TLSMode.SKIP
        r = SessionResult(
            host=args["host"],
            ip=args["ip"],
            port=args["port"],
            connected=True,
            banner="220 hi",
            receiving_mx_helo=args["host"],
            tls=tls,
            tls_success=tls,
            starttls_offered=tls,
            **kw,
        )
        r.rcpts = [RcptResult(x, 250, "2.1.5", "ok", True) for x in args["rcpts"]]
        r.data_reply = DataReply(250, "2.0.0", "queued")
        return r

    return run


def fail(
    *,
    code: int = 0,
    enhanced: str = "4.4.1",
    connected: bool = False,
    **kw: Any,
) -> Callable[[dict[str, Any]], SessionResult]:
    def run(args: dict[str, Any]) -> SessionResult:
        r = SessionResult(
            host=args["host"],
            ip=args["ip"],
            port=args["port"],
            connected=connected,
            banner="220 hi" if connected else "",
            **kw,
        )
        r.error = SMTPReplyError(code, enhanced, "nope")
        return r

    return run


def rcpt_replies(replies: dict[str, int]) -> Callable[[dict[str, Any]], SessionResult]:
    def run(args: dict[str, Any]) -> SessionResult:
        r = SessionResult(
            host=args["host"], ip=args["ip"], port=args["port"], connected=True, banner="220 hi"
        )
        r.rcpts = [
            RcptResult(x, replies[x], f"{replies[x] // 100}.1.1", "t", replies[x] < 300)
            for x in args["rcpts"]
        ]
        r.data_reply = DataReply(250, "2.0.0", "queued")
        return r

    return run


@dataclass
class Script:
    """Answers sessions by (host, ip, tls mode) -> behaviour; records all calls."""

    behaviours: dict[tuple[str, str] | tuple[str, str, TLSMode], Callable[..., SessionResult]]
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, **args: Any) -> SessionResult:
        self.calls.append(args)
        key3 = (args["host"], args["ip"], args["tls"].mode)
        key2 = (args["host"], args["ip"])
        fn = self.behaviours.get(key3) or self.behaviours.get(key2)  # type: ignore[call-overload]
        if fn is None:
            return fail()(args)
        return fn(args)


@dataclass
class Env:
    cfg: Config
    store: Store
    mtastsdb: MTASTSDB
    resultdb: ResultDB
    tmp: Path

    def message(self, data: bytes = b"Subject: hi\r\n\r\nhello\r\n") -> Path:
        p = self.tmp / "msg.eml"
        p.write_bytes(data)
        return p


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    cfg = make_config(tmp_path)
    store = Store(cfg.datadir)
    mdb = MTASTSDB.open(cfg.datadir.mtasts_db)
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    try:
        yield Env(cfg, store, mdb, rdb, tmp_path)
    finally:
        rdb.close()
        mdb.close()
        store.close()


class Recorded:
    """A Deliverer whose outcomes are recorded as the queue's runner has them
    recorded (postel.queue.recorder: TLS results in *resultdb*, domain security
    in the store); ``deliver`` returns the recipients' outcomes."""

    def __init__(self, deliverer: Deliverer, resultdb: ResultDB | None, store: Store) -> None:
        self.deliverer = deliverer
        self.recorder = OutcomeRecorder(None, resultdb, store)
        self.outcomes: list[DeliveryOutcome] = []

    async def deliver(self, req: DeliveryRequest) -> list[RecipientOutcome]:
        outcome = await self.deliverer.deliver(req)
        self.outcomes.append(outcome)
        await self.recorder.record(AttemptRecord(outcome))
        return list(outcome.recipients)

    async def aclose(self) -> None:
        await self.deliverer.aclose()
