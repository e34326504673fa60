"""The user's verdicts, from what they do with their mail (pure rules), and
their recording (postel.junk.filter.JunkFilter.train).

Junk: moving a message into Junk, or setting the $Junk keyword. Not junk:
moving it out of Junk (or Rejects) into another mailbox than Trash, setting
$NotJunk, and reading it in a mailbox of kept mail (a message read in the
Inbox and left there is one the user wanted). Deleting is no verdict. Every
client path (webmail, IMAP) goes through these rules, so they agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO, Protocol

from postel.junk.filter import JunkFilter, junk_filter
from postel.junk.verified import from_headers

if TYPE_CHECKING:
    from postel.config import Config
    from postel.junk.store import JunkData

log = logging.getLogger("postel.junk")

JUNK = "Junk"
REJECTS = "Rejects"
TRASH = "Trash"
# Mailboxes whose mail the user wrote (or did not keep): reading there says nothing.
NO_VERDICT_ON_READ = (JUNK, REJECTS, TRASH, "Sent", "Drafts")
JUNK_KEYWORD = "$Junk"  # RFC 5788 registry: IMAP keywords of the junk filter
NOT_JUNK_KEYWORD = "$NotJunk"
MAX_TRAIN_BYTES = 4 * 1024 * 1024  # a message beyond this is judged by its beginning
# Marking more messages read at once than this ("mark all read") is tidying
# up, not a verdict on each of them: no training from it.
MAX_READ_VERDICTS = 50


def verdict_for_move(source: str, target: str) -> bool | None:
    """True: junk; False: not junk; None: no verdict."""
    if target in (source, REJECTS):
        return None
    if target == JUNK:
        return True
    if source in (JUNK, REJECTS) and target != TRASH:
        return False
    return None


def verdict_for_flags(mailbox: str, added: Iterable[str], count: int = 1) -> bool | None:
    """The verdict of setting *added* on *count* messages at once."""
    flags = set(added)
    if JUNK_KEYWORD in flags:
        return True
    if NOT_JUNK_KEYWORD in flags:
        return False
    if "\\Seen" in flags and mailbox not in NO_VERDICT_ON_READ and count <= MAX_READ_VERDICTS:
        return False
    return None


class Readable(Protocol):
    """An account's messages, as far as training reads them (AccountStore)."""

    def open_message(self, msgid: int) -> BinaryIO: ...


class Trainer:
    """Records verdicts in the accounts' junk filter (blocking: call in a thread)."""

    def __init__(self, junk: JunkFilter, authserv_id: str) -> None:
        self.junk = junk
        self.authserv_id = authserv_id

    def learn(self, account: str, data: bytes, *, spam: bool) -> bool:
        verified = from_headers(data, self.authserv_id)
        return self.junk.train(account, data, verified, spam=spam)

    def learn_stored(self, account: str, acc: Readable, msgid: int, *, spam: bool) -> bool:
        """Train on a stored message; failures are logged, never raised: the
        user's action (the move) has happened."""
        try:
            with acc.open_message(msgid) as f:
                data = f.read(MAX_TRAIN_BYTES)
            return self.learn(account, data, spam=spam)
        except Exception as exc:
            log.error(
                "junk training failed",
                extra={"account": account, "msgid": msgid, "err": repr(exc)},
            )
            return False


def trainer_for(cfg: Config, data: JunkData | None = None) -> Trainer | None:
    """The junk filter's trainer of *cfg* (None: [junk] off), as the webmail
    and the IMAP server use it; *data*: where the accounts' data is (default:
    their junk.db files)."""
    junk = junk_filter(cfg, None, data)
    return None if junk is None else Trainer(junk, cfg.static.hostname)
