"""The server process opens tlsrptresult.db once: the delivery recorder, the
daily TLS reports and the admin pages share that connection."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from postel.config import load_config
from postel.tlsrptresultdb import ResultDB
from postel.wiring import ServeRoot

STATIC = """
hostname = "mail.example.org"
postmaster_account = "alice"
[listeners]
"""
DOMAINS = """
[domains."example.org"]
[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]
"""


async def test_outgoing_services_open_tlsrptresult_db_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postel.services import make_submitter

    (tmp_path / "postel.toml").write_text(STATIC)
    (tmp_path / "domains.toml").write_text(DOMAINS)
    cfg = load_config(tmp_path)
    cfg.datadir.ensure()
    opened: list[Path] = []
    real = ResultDB.open.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ResultDB], path: Path, **kw: Any) -> ResultDB:
        opened.append(path)
        return real(cls, path, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(ResultDB, "open", classmethod(counting))
    async with AsyncExitStack() as stack:
        root = await ServeRoot.open(cfg, stack)
        submitter = await make_submitter(root, stack)
        assert opened == [cfg.datadir.tlsrptresult_db]
        assert submitter.queue is not None and submitter.queue.alive
