"""imaplib against the IMAP service: login, list, select, fetch, store, move, append."""

from __future__ import annotations

from imap_env import MESSAGE, PASSWORD, Env, run


async def test_everyday_session(env: Env) -> None:
    env.deliver()

    def client() -> None:
        c = env.login()
        typ, data = c.list()
        assert typ == "OK"
        text = b"\n".join(d for d in data if isinstance(d, bytes))
        assert b'"INBOX"' in text or b" INBOX" in text
        assert b"\\Sent" in text
        typ, data = c.select("INBOX")
        assert (typ, data) == ("OK", [b"1"])
        typ, data = c.fetch("1", "(FLAGS RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        assert data[0][1] == MESSAGE
        typ, data = c.uid("STORE", "1", "+FLAGS", r"(\Flagged)")
        assert typ == "OK" and b"\\Flagged" in data[0]
        typ, data = c.search(None, "FLAGGED")
        assert data == [b"1"]
        typ, data = c.append("Sent", r"(\Seen)", None, MESSAGE)
        assert typ == "OK" and b"APPENDUID" in data[0]
        typ, data = c.uid("MOVE", "1", "Archive")
        assert typ == "OK", data
        typ, data = c.select("Archive")
        assert data == [b"1"]
        c.logout()

    await run(client)
    assert env.store.account("alice").mailbox("Archive").total == 1
    assert env.store.account("alice").mailbox("Sent").total == 1
    assert PASSWORD
