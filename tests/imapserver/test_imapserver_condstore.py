"""CONDSTORE and QRESYNC (RFC 7162) and changes made elsewhere announced from
the store's modseqs, over real connections to a running IMAPService."""

from __future__ import annotations

import re
import time
from pathlib import Path

import trustme
from imap_env import MESSAGE, PASSWORD, STATIC, Env, make_config, raw_tls, run

from postel.imapserver import IMAPService
from postel.store.credentials import Credentials
from postel.store.notify import ChangeFeed
from postel.store.store import Store


def _modseq(line: bytes) -> int:
    m = re.search(rb"MODSEQ \(?(\d+)", line)
    assert m is not None, line
    return int(m.group(1))


async def test_flag_change_elsewhere_is_announced_at_noop(env: Env) -> None:
    env.deliver()
    env.deliver()
    account = env.store.account("alice")

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        # Webmail (another writer of the same account) flags message 2.
        account.set_flags(account.get_by_uid("Inbox", 2).msgid, ["\\Flagged"])
        out = r.cmd(b"n NOOP")
        assert out == [b"* 2 FETCH (FLAGS (\\Flagged))\r\n", b"n OK NOOP completed\r\n"]
        # The session's own STORE is not announced again.
        r.cmd(b"a STORE 1 +FLAGS (\\Seen)")
        assert r.cmd(b"n2 NOOP") == [b"n2 OK NOOP completed\r\n"]
        r.close()

    await run(client)


async def test_expunge_and_delivery_elsewhere(env: Env) -> None:
    for _ in range(3):
        env.deliver()
    account = env.store.account("alice")

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        account.remove(account.get_by_uid("Inbox", 2).msgid)
        env.deliver()
        out = r.cmd(b"n NOOP")
        assert out[:2] == [b"* 2 EXPUNGE\r\n", b"* 3 EXISTS\r\n"], out
        assert r.cmd(b"f UID FETCH 4 (UID)")[0] == b"* 3 FETCH (UID 4)\r\n"
        r.close()

    await run(client)


async def test_condstore_select_fetch_store_search_status(env: Env) -> None:
    env.deliver()
    env.deliver()
    env.deliver()

    def client() -> None:
        r = raw_tls(env)
        assert b"CONDSTORE" in r.cmd(b"c CAPABILITY")[0]
        out = r.cmd(b"s SELECT INBOX (CONDSTORE)")
        high = [ln for ln in out if b"HIGHESTMODSEQ" in ln]
        assert high, out
        start = int(re.search(rb"HIGHESTMODSEQ (\d+)", high[0]).group(1))  # type: ignore[union-attr]
        out = r.cmd(b"f FETCH 1:3 (MODSEQ)")
        seqs = [_modseq(ln) for ln in out[:-1]]
        assert len(seqs) == 3 and max(seqs) == start
        # STORE with CONDSTORE on: FLAGS and MODSEQ; one modseq for the set.
        out = r.cmd(b"a STORE 1:2 +FLAGS (\\Seen)")
        assert out[0].startswith(b"* 1 FETCH (FLAGS (\\Seen) MODSEQ (")
        new = _modseq(out[0])
        assert new == _modseq(out[1]) == start + 1
        # CHANGEDSINCE: only what changed after; MODSEQ added by itself.
        out = r.cmd(b"g FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % start)
        assert [ln.split(b" ")[1] for ln in out[:-1]] == [b"1", b"2"], out
        assert all(b"MODSEQ" in ln for ln in out[:-1])
        # UNCHANGEDSINCE: message 3 was not changed after start, 1 was.
        out = r.cmd(b"u STORE 1,3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Flagged)" % start)
        assert out[-1].startswith(b"u OK [MODIFIED 1]"), out
        assert out[0] == b"* 3 FETCH (MODSEQ (%d))\r\n" % (start + 2)
        out = r.cmd(b"x UID STORE 3 (UNCHANGEDSINCE 1) -FLAGS (\\Flagged)")
        assert out[-1].startswith(b"x OK [MODIFIED 3]"), out
        # SEARCH MODSEQ: the matches and their highest modseq.
        out = r.cmd(b"q SEARCH MODSEQ %d" % (start + 1))
        assert out[0] == b"* SEARCH 1 2 3 (MODSEQ %d)\r\n" % (start + 2)
        out = r.cmd(b'q2 SEARCH MODSEQ "/flags/\\\\draft" all %d' % (start + 2))
        assert out[0] == b"* SEARCH 3 (MODSEQ %d)\r\n" % (start + 2)
        out = r.cmd(b"t STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
        assert out[0] == b"* STATUS INBOX (HIGHESTMODSEQ %d MESSAGES 3)\r\n" % (start + 2)
        r.close()

    await run(client)


async def test_qresync_select_and_vanished(env: Env) -> None:
    for _ in range(4):
        env.deliver()
    account = env.store.account("alice")
    info = account.mailbox("Inbox")

    def client() -> None:
        r = raw_tls(env)
        assert r.cmd(b"e ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC\r\n"
        start = info.highestmodseq
        # Changes after the client's last look: 2 expunged, 3 flagged.
        account.remove(account.get_by_uid("Inbox", 2).msgid)
        account.set_flags(account.get_by_uid("Inbox", 3).msgid, ["\\Answered"])
        out = r.cmd(b"s SELECT INBOX (QRESYNC (%d %d 1:4))" % (info.uidvalidity, start))
        assert b"* VANISHED (EARLIER) 2\r\n" in out, out
        fetches = [ln for ln in out if b"FETCH" in ln]
        assert len(fetches) == 1 and fetches[0].startswith(b"* 2 FETCH (UID 3 FLAGS (\\Answered)")
        # UID FETCH (CHANGEDSINCE n VANISHED)
        out = r.cmd(b"f UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % start)
        assert out[0] == b"* VANISHED (EARLIER) 2\r\n", out
        # An expunge elsewhere is VANISHED, not EXPUNGE, with QRESYNC.
        account.remove(account.get_by_uid("Inbox", 4).msgid)
        assert r.cmd(b"n NOOP")[0] == b"* VANISHED 4\r\n"
        # Another SELECT says the first mailbox was closed (RFC 7162 §3.2.11).
        assert b"* OK [CLOSED]" in b"".join(r.cmd(b"s2 SELECT INBOX"))
        # QRESYNC with a wrong UIDVALIDITY: a plain SELECT.
        out = r.cmd(b"s3 SELECT INBOX (QRESYNC (%d 1))" % (info.uidvalidity + 7))
        assert not any(b"VANISHED" in ln or b"FETCH" in ln for ln in out)
        r.close()

    await run(client)


async def test_qresync_needs_enable(env: Env) -> None:
    def client() -> None:
        r = raw_tls(env)
        assert r.cmd(b"s SELECT INBOX (QRESYNC (1 1))")[-1].startswith(b"s BAD")
        r.cmd(b"s2 SELECT INBOX")
        out = r.cmd(b"f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        assert out[-1].startswith(b"f BAD")
        r.close()

    await run(client)


async def test_idle_wakes_on_the_change_feed_at_once(tmp_path: Path) -> None:
    """With the ChangeFeed, IDLE reports a delivery and a flag change made by
    another writer well before the (here 30 s) fallback re-check."""
    ca = trustme.CA()
    cfg = make_config(
        tmp_path, ca, STATIC.replace("recheck_interval = 0.2", "recheck_interval = 30")
    )
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    store = Store(cfg.datadir)
    feed = ChangeFeed(cfg.datadir.tmp)
    await feed.start()
    service = IMAPService(cfg, store, feed=feed)
    await service.start()
    env = Env(cfg, store, service, ca, {kind: port for _ip, port, kind in service.bound})
    other = Store(cfg.datadir)  # another writer, as an SMTP worker or the webmail
    try:
        env.deliver()

        def client() -> None:
            r = raw_tls(env)
            r.cmd(b"s SELECT INBOX")
            r.send(b"i IDLE\r\n")
            assert r.line().startswith(b"+")
            t0 = time.monotonic()
            acct = other.account("alice")
            acct.deliver_bytes("Inbox", MESSAGE)
            assert r.line() == b"* 2 EXISTS\r\n"
            acct.set_flags(acct.get_by_uid("Inbox", 1).msgid, ["\\Seen"])
            assert r.line() == b"* 1 FETCH (FLAGS (\\Seen))\r\n"
            assert time.monotonic() - t0 < 5
            r.send(b"DONE\r\n")
            assert r.line().startswith(b"i OK")
            r.close()

        await run(client)
    finally:
        other.close()
        await service.stop()
        await feed.stop()
        store.close()


async def test_qresync_from_before_the_trimmed_floor_gets_a_superset(env: Env) -> None:
    for _ in range(12):
        env.deliver()
    account = env.store.account("alice")
    account.vanished_keep = 3  # trimmed once past 4 kept removals
    account.remove(account.get_by_uid("Inbox", 1).msgid)  # the client saw this one go
    info = account.mailbox("Inbox")

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"e ENABLE QRESYNC")
        r.cmd(b"s0 SELECT INBOX")
        start = info.highestmodseq
        for uid in range(2, 11):
            account.remove(account.get_by_uid("Inbox", uid).msgid)
        # The session learns of its own mailbox's removals although most of
        # them are no longer kept.
        assert r.cmd(b"n NOOP")[0] == b"* VANISHED 2:10\r\n"
        kept = account._conn.execute("SELECT count(*) FROM vanished").fetchone()[0]
        assert kept <= 4
        # RFC 7162 §3.2.5.2: every known UID not there now, UID 1 included.
        out = r.cmd(b"s SELECT INBOX (QRESYNC (%d %d 1:12))" % (info.uidvalidity, start))
        assert b"* VANISHED (EARLIER) 1:10\r\n" in out, out
        # Without known UIDs: 1:UIDNEXT-1.
        out = r.cmd(b"s2 SELECT INBOX (QRESYNC (%d %d))" % (info.uidvalidity, start))
        assert b"* VANISHED (EARLIER) 1:10\r\n" in out, out
        # From after the floor: the exact list, as kept.
        high = account.mailbox("Inbox").highestmodseq
        out = r.cmd(b"s3 SELECT INBOX (QRESYNC (%d %d))" % (info.uidvalidity, high - 1))
        assert b"* VANISHED (EARLIER) 10\r\n" in out, out
        # UID FETCH (CHANGEDSINCE n VANISHED): the command's set only.
        out = r.cmd(b"f UID FETCH 5:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % start)
        assert out[0] == b"* VANISHED (EARLIER) 5:10\r\n", out
        r.close()

    await run(client)


async def test_expunges_elsewhere_past_the_kept_number_reach_a_selected_session(
    env: Env,
) -> None:
    for _ in range(8):
        env.deliver()
    account = env.store.account("alice")
    account.vanished_keep = 2

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        for uid in (2, 3, 4, 5, 6, 7):
            account.remove(account.get_by_uid("Inbox", uid).msgid)
        out = r.cmd(b"n NOOP")
        assert out[:6] == [b"* %d EXPUNGE\r\n" % n for n in (7, 6, 5, 4, 3, 2)], out
        assert r.cmd(b"f FETCH 2 (UID)")[0] == b"* 2 FETCH (UID 8)\r\n"
        r.close()

    await run(client)
