"""`postel queue`: list, retry, hold and drop outgoing messages.

Works on the queue's entry store while the server runs (SQLite WAL) and then
wakes the running server's delivery loop over the control socket.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from postel.cli.common import fail
from postel.cli.options import config_option, load_or_exit

if TYPE_CHECKING:
    from postel.queue.entries import QueueEntries


@contextmanager
def _open(config_dir: Path) -> Iterator[QueueEntries]:
    """The queue's entries, through the CLI root (opened once, closed at exit)."""
    from postel.db import DBError
    from postel.pg.errors import PgError
    from postel.wiring import CLIRoot, on_postgresql, open_queue_entries

    cfg = load_or_exit(config_dir)
    if on_postgresql(cfg):
        # The queue all nodes share on PostgreSQL.
        try:
            db = open_queue_entries(cfg)
        except (DBError, PgError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        try:
            yield db
        finally:
            db.close()
        return
    with CLIRoot(cfg.datadir) as root:
        try:
            entries = root.queue_entries
        except DBError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        yield entries


def _wake(config_dir: Path) -> None:
    from postel.cli.live import tell_server

    tell_server(load_or_exit(config_dir).datadir.root, "queue.wake", "delivery loop woken")


def _ago(t: dt.datetime, now: dt.datetime) -> str:
    secs = int((t - now).total_seconds())
    sign = "in " if secs >= 0 else ""
    secs = abs(secs)
    if secs < 60:
        text = f"{secs}s"
    elif secs < 3600:
        text = f"{secs // 60}m"
    elif secs < 86400:
        text = f"{secs // 3600}h{secs % 3600 // 60:02d}m"
    else:
        text = f"{secs // 86400}d{secs % 86400 // 3600}h"
    return sign + text + ("" if sign else " ago")


@click.group(name="queue")
def command() -> None:
    """The outgoing queue: messages waiting for (another) delivery attempt."""


@command.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per entry).")
def list_cmd(config_dir: Path, as_json: bool) -> None:
    """List queued entries (one per recipient), next attempt first."""
    with _open(config_dir) as db:
        entries = db.entries()
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("queue is empty")
        return
    now = dt.datetime.now(dt.UTC)
    for e in entries:
        state = "HELD" if e.hold else f"next {_ago(e.next_attempt, now)}"
        sender = e.msg.mail_from or "<>"
        click.echo(
            f"{e.id}\tmsg {e.msg.id}\t{sender} -> {e.rcpt}\t{e.msg.size} bytes\t"
            f"attempts {e.attempts}/{e.max_attempts}\t{state}"
        )
        if e.last_error:
            click.echo(f"\tlast error: {e.last_error}")


@command.command(name="retry")
@config_option
@click.argument("entry_id", type=int, required=False)
@click.option("--all", "all_", is_flag=True, help="Retry every entry.")
def retry_cmd(config_dir: Path, entry_id: int | None, all_: bool) -> None:
    """Attempt delivery of entry ID (or --all) now; releases holds."""
    from postel.queue.errors import EntryNotFound

    if (entry_id is None) == (not all_):
        fail("give an entry ID or --all (not both)")
    with _open(config_dir) as db:
        try:
            n = db.retry(None if all_ else entry_id)
        except EntryNotFound as exc:
            fail(str(exc))
    click.echo(f"{n} entr{'y' if n == 1 else 'ies'} scheduled for immediate delivery")
    _wake(config_dir)


@command.command(name="hold")
@config_option
@click.argument("entry_id", type=int)
@click.option("--release", is_flag=True, help="Release the hold instead.")
def hold_cmd(config_dir: Path, entry_id: int, release: bool) -> None:
    """Hold entry ID: no delivery attempts until released (or retried)."""
    from postel.queue.errors import EntryNotFound

    with _open(config_dir) as db:
        try:
            if release:
                db.release(entry_id)
            else:
                db.hold(entry_id)
        except EntryNotFound as exc:
            fail(str(exc))
    click.echo(f"entry {entry_id} {'released' if release else 'held'}")
    _wake(config_dir)


@command.command(name="drop")
@config_option
@click.argument("entry_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def drop_cmd(config_dir: Path, entry_id: int, yes: bool) -> None:
    """Remove entry ID from the queue. The sender gets no DSN."""
    from postel.queue.errors import EntryNotFound

    with _open(config_dir) as db:
        try:
            entry = db.get(entry_id)
        except EntryNotFound as exc:
            fail(str(exc))
        if not yes:
            click.confirm(
                f"drop entry {entry_id} ({entry.msg.mail_from or '<>'} -> {entry.rcpt})? "
                "The sender gets no delivery status notification",
                abort=True,
                err=True,
            )
        try:
            db.drop(entry_id)
        except EntryNotFound as exc:
            fail(str(exc))
    click.echo(
        f"entry {entry_id} dropped: {entry.rcpt} will not get the message and the sender "
        f"{entry.msg.mail_from or '<>'} gets no DSN"
    )
