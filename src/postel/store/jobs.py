"""What is handed to the store's one delivery path (store/batching.py): a
Delivery (one file into one mailbox of an account) and a Job (one file into
one or more accounts' mailboxes, written first when its content is given)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from postel.store.envelope import Envelope
from postel.store.message import Message

# (account, message) delivered, and the store error that stopped delivery.
Result = tuple[list[tuple[str, Message]], Exception | None]


@dataclass
class Delivery:
    """One message for :meth:`AccountStore.deliver_many`: the complete, fsynced
    file *source*, added to *mailbox* (created if missing).

    *size* and *envelope* may be given when the caller knows them (the byte
    size of *source*, the parsed header block of its first HEADER_LIMIT bytes);
    else the file is read."""

    mailbox: str
    source: Path | str
    flags: Iterable[str] = ()
    keywords: Iterable[str] = ()
    received: datetime | None = None
    requiretls: bool = False
    size: int | None = None
    envelope: Envelope | None = None
    text: str | None = None  # the body text (store/bodytext.py), when known
    # *source* was just written and not fsynced: the store fsyncs it while it
    # commits the index row (docs/data-safety.md, Durability).
    unsynced: bool = False


@dataclass(eq=False, slots=True)
class Job:
    """The file *source* delivered to each (account, mailbox) of *targets* in
    order, stopping at the first that fails. With *write* (header lines, then
    the body as bytes or a file), *source* is a new file written first and
    fsynced while its first target's index row commits; it is left for the
    caller to remove."""

    source: Path
    targets: Sequence[tuple[str, str]]
    write: tuple[bytes, bytes | Path] | None = None
    requiretls: bool = False
    flags: Iterable[str] = ()
    keywords: Iterable[str] = ()
    received: datetime | None = None
    size: int | None = None
    envelope: Envelope | None = None
    text: str | None = None  # the body text, extracted once for every target
    unsynced: bool = False  # written, not yet fsynced (set by the batcher)
    # Completed with the job itself when it is done.
    waiter: asyncio.Future[Job] | concurrent.futures.Future[Job] | None = None
    delivered: list[tuple[str, Message]] = field(default_factory=list)
    error: Exception | None = None  # a store error: stops the remaining targets
    failed: BaseException | None = None  # writing the file failed: raised to the caller

    @classmethod
    def of(cls, account: str, d: Delivery, write: tuple[bytes, bytes | Path] | None = None) -> Job:
        """The job of one Delivery to *account*."""
        return cls(
            Path(d.source),
            [(account, d.mailbox)],
            write,
            d.requiretls,
            d.flags,
            d.keywords,
            d.received,
            d.size,
            d.envelope,
            d.text,
        )

    def delivery(self, mailbox: str) -> Delivery:
        return Delivery(
            mailbox,
            self.source,
            self.flags,
            self.keywords,
            self.received,
            self.requiretls,
            self.size,
            self.envelope,
            self.text,
            self.unsynced,
        )

    def result(self) -> Result:
        """What was delivered and the error that stopped it; a write error is raised."""
        if self.failed is not None:
            raise self.failed
        return self.delivered, self.error
