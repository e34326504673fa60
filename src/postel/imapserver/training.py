"""The junk filter learns from what IMAP clients do, by the same rules as the
webmail (postel.junk.training): COPY/MOVE into Junk is junk, out of Junk (not
to Trash) is not junk, STORE of $Junk / $NotJunk, and \\Seen in a mailbox of
kept mail. $Junk and $NotJunk are plain keywords (RFC 5788 registry), so
nothing new is advertised."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from postel.imapserver.storeapi import MailStore
from postel.junk.training import Trainer, verdict_for_flags, verdict_for_move

__all__ = ["learn", "verdict_for_flags", "verdict_for_move"]

log = logging.getLogger("postel.imapserver")


def learn(
    trainer: Trainer | None,
    account: str,
    store: MailStore,
    verdicts: Iterable[tuple[int, bool | None]],
) -> int:
    """Record each (msgid, verdict) that is a verdict; how many were recorded.
    Blocking (call in a thread); never raises: the command has happened."""
    if trainer is None:
        return 0
    n = 0
    for msgid, verdict in verdicts:
        if verdict is None:
            continue
        try:
            n += trainer.learn_stored(account, store, msgid, spam=verdict)
        except Exception as exc:  # learn_stored logs its own failures; this is a bug
            log.error(
                "imap junk training failed",
                extra={"account": account, "msgid": msgid, "err": repr(exc)},
            )
    return n
