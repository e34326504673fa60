"""SMTP replies for a recipient account over its quota (postel.store.OverQuota):
RFC 5321 §4.5.3.1.10 and RFC 3463 §3.3. An account already full takes no
message now: 452 4.2.2 (try later, the user may make room). A message bigger
than the room left: 552 5.2.2 after DATA (RFC 5321 §4.5.3.1.10 allows 552
where 452 would be expected for a storage limit)."""

from __future__ import annotations

from postel.errors import SMTPReplyError
from postel.smtp.reply import Reply
from postel.store.errors import OverQuota

MAILBOX_FULL = Reply(452, "4.2.2", "mailbox full, try again later")


def over_quota_reply(exc: OverQuota) -> Reply:
    if exc.full:
        return MAILBOX_FULL
    return Reply(552, "5.2.2", f"message of {exc.size} bytes exceeds the mailbox's free space")


def over_quota_error(exc: OverQuota) -> SMTPReplyError:
    """The reply to a submission client whose message a local account has no room for."""
    reply = over_quota_reply(exc)
    return SMTPReplyError(reply.code, reply.enhanced, reply.text)
