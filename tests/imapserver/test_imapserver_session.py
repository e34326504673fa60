"""Session behaviour over real connections: TLS rules, limits, bad input, IDLE,
sections, flags, rev1 and rev2 responses."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from imap_env import MESSAGE, PASSWORD, STATIC, Env, make_config, raw_plain, raw_tls, run
from test_imapserver_mime import NESTED


async def test_no_login_before_starttls(env: Env) -> None:
    def client() -> None:
        r = raw_plain(env)
        assert b"LOGINDISABLED" in r.greeting and b"STARTTLS" in r.greeting
        assert b"AUTH=" not in r.greeting
        out = r.cmd(b'a LOGIN alice "' + PASSWORD.encode() + b'"')
        assert out[-1].startswith(b"a NO [PRIVACYREQUIRED]")
        out = r.cmd(b"b AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0" + PASSWORD.encode()))
        assert out[-1].startswith(b"b NO [PRIVACYREQUIRED]")
        assert r.cmd(b"c STARTTLS")[-1].startswith(b"c OK")
        sock = env.client_context().wrap_socket(r.sock, server_hostname="mail.example.org")
        r.sock, r.file = sock, sock.makefile("rb")
        caps = r.cmd(b"d CAPABILITY")
        assert b"AUTH=PLAIN" in caps[0] and b"LOGINDISABLED" not in caps[0]
        initial = base64.b64encode(b"\0alice\0" + PASSWORD.encode())
        out = r.cmd(b"e AUTHENTICATE PLAIN " + initial)  # SASL-IR (RFC 4959)
        assert out[-1].startswith(b"e OK [CAPABILITY") and b"IDLE" in out[-1]
        r.close()

    await run(client)


async def test_authenticate_with_continuation_and_failures(env: Env) -> None:
    def client() -> None:
        r = raw_tls(env, login=False)
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        assert r.line().startswith(b"+")
        r.send(base64.b64encode(b"\0alice\0wrong") + b"\r\n")
        assert r.until(b"a")[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
        assert r.cmd(b"b LOGIN alice wrong")[-1].startswith(b"b NO [AUTHENTICATIONFAILED]")
        # The shared login limiter: beyond the free failures the next must wait.
        assert r.cmd(b"c LOGIN alice wrong")[-1].startswith(b"c NO [UNAVAILABLE]")
        # Three failures on one connection end it.
        assert r.line() == b"* BYE too many failed logins\r\n"
        r.close()

    await run(client)


async def test_parse_errors_are_tagged_bad_and_the_session_goes_on(env: Env) -> None:
    def client() -> None:
        r = raw_tls(env)
        assert r.cmd(b"a1 FETCH 1 (FLAGS")[-1].startswith(b"a1 BAD")
        assert r.cmd(b"a2 FROBNICATE")[-1].startswith(b"a2 BAD")
        assert r.cmd(b"a3 FETCH 1 FLAGS")[-1].startswith(b"a3 BAD")  # not selected
        r.cmd(b"s SELECT Junk")
        assert r.cmd(b"a6 FETCH 1:* FLAGS") == [b"a6 OK FETCH completed\r\n"]  # empty
        assert r.cmd(b"a7 FETCH 1 FLAGS")[-1].startswith(b"a7 BAD")  # no message 1
        r.send(b"x" * 2000 + b"\r\n")
        assert r.line().startswith(b"* BAD")
        r.send(b"a4 APPEND INBOX {999999}\r\n")
        assert r.line().startswith(b"a4 NO [TOOBIG]")
        assert r.cmd(b"a5 NOOP")[-1].startswith(b"a5 OK")
        r.close()

    await run(client)


async def test_unauthenticated_session_times_out(env: Env) -> None:
    def client() -> None:
        r = raw_plain(env)
        started = time.monotonic()
        assert r.line().startswith(b"* BYE")
        assert time.monotonic() - started < 5
        r.close()
        # Commands do not extend the time to log in.
        r = raw_plain(env)
        started = time.monotonic()
        lines: list[bytes] = []
        while (not lines or not lines[-1].startswith(b"* BYE")) and len(lines) < 20:
            time.sleep(0.3)
            r.send(b"n NOOP\r\n")
            lines.append(r.line())
        assert time.monotonic() - started < 3
        r.close()

    await run(client)


async def test_connections_per_ip_and_account_are_capped(env: Env) -> None:
    def client() -> None:
        logged = [raw_tls(env) for _ in range(3)]
        fourth = raw_tls(env, login=False)
        out = fourth.cmd(b'x LOGIN alice "' + PASSWORD.encode() + b'"')
        assert out[-1].startswith(b"x NO [LIMIT]")
        refused = raw_plain(env)  # the fifth from this address
        assert refused.greeting.startswith(b"* BYE [UNAVAILABLE]")
        for r in [*logged, fourth, refused]:
            r.close()

    await run(client)


async def test_idle_sees_a_delivery(env: Env) -> None:
    def client() -> float:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        r.send(b"i IDLE\r\n")
        assert r.line().startswith(b"+")
        started = time.monotonic()
        env.deliver()
        assert r.line() == b"* 1 EXISTS\r\n"
        took = time.monotonic() - started
        r.send(b"DONE\r\n")
        assert r.until(b"i")[-1].startswith(b"i OK")
        r.close()
        return took

    assert await run(client) < 2


async def test_sections_and_seen(env: Env) -> None:
    env.deliver(NESTED)

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        out = r.cmd(b"f FETCH 1 (BODY.PEEK[2.1] BODY.PEEK[HEADER.FIELDS (SUBJECT)] FLAGS)")
        text = b"".join(out)
        assert b"BODY[2.1] {10}\r\ninner text" in text
        assert b"BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: nested\r\n\r\n" in text
        assert b"FLAGS ()" in text
        text = b"".join(r.cmd(b"g UID FETCH 1 (BODY[1]<0.5>)"))
        assert b"UID 1" in text and b"BODY[1]<0> {5}\r\nfirst" in text
        assert b"\\Seen" in text  # fetching BODY[] sets \Seen (RFC 9051 §6.4.5)
        text = b"".join(r.cmd(b"h FETCH 1 (BODYSTRUCTURE ENVELOPE)"))
        assert b'"MIXED"' in text and b'"nested"' in text
        r.close()

    await run(client)


async def test_rev2_and_rev1_responses(env: Env) -> None:
    env.deliver()
    env.deliver()

    def client() -> None:
        r = raw_tls(env)
        out = r.cmd(b"a SELECT INBOX")
        assert b"* 0 RECENT\r\n" in out
        assert r.cmd(b"b SEARCH ALL")[0] == b"* SEARCH 1 2\r\n"
        assert r.cmd(b"c ENABLE IMAP4rev2")[0] == b"* ENABLED IMAP4rev2\r\n"
        out = r.cmd(b"d SELECT INBOX")
        assert (
            b"* 0 RECENT\r\n" not in out and out[0] == b"* OK [CLOSED] previous mailbox closed\r\n"
        )
        assert r.cmd(b"e UID SEARCH ALL")[0] == b'* ESEARCH (TAG "e") UID ALL 1:2\r\n'
        out = r.cmd(b"f CREATE Projects/2026/x")
        out = r.cmd(b'g LIST "" "Projects/%"')
        assert out[0] == b'* LIST (\\NonExistent \\HasChildren) "/" Projects/2026\r\n'
        r.close()

    await run(client)


async def test_expunge_made_elsewhere_is_announced(env: Env) -> None:
    env.deliver()
    env.deliver()

    def client() -> None:
        a, b = raw_tls(env), raw_tls(env)
        a.cmd(b"s SELECT INBOX")
        b.cmd(b"s SELECT INBOX")
        b.cmd(b"t STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert b.cmd(b"u EXPUNGE")[0] == b"* 1 EXPUNGE\r\n"
        assert a.cmd(b"n NOOP")[0] == b"* 1 EXPUNGE\r\n"
        out = a.cmd(b"f FETCH 1 (UID)")
        assert out[0] == b"* 1 FETCH (UID 2)\r\n"
        a.close()
        b.close()

    await run(client)


async def test_append_literal_plus_and_copy(env: Env) -> None:
    def client() -> None:
        r = raw_tls(env)
        r.send(b"a APPEND Drafts (\\Draft) {%d+}\r\n" % len(MESSAGE) + MESSAGE + b"\r\n")
        assert r.until(b"a")[-1].startswith(b"a OK [APPENDUID ")
        assert r.cmd(b"b APPEND Nowhere {3+}\r\nabc")[-1].startswith(b"b NO [TRYCREATE]")
        r.cmd(b"c SELECT Drafts")
        out = r.cmd(b"d COPY 1 Trash")
        assert out[-1].startswith(b"d OK [COPYUID ")
        r.close()

    await run(client)
    acc = env.store.account("alice")
    assert acc.mailbox("Drafts").total == 1 and acc.mailbox("Trash").total == 1


def scram_exchange(env: Env, user: str, password: str) -> list[bytes]:
    """AUTHENTICATE SCRAM-SHA-256 (RFC 5802 §3, RFC 7677) as a client does it."""
    import hashlib
    import hmac
    import os

    def b64(data: bytes) -> bytes:
        return base64.b64encode(data)

    r = raw_tls(env, login=False)
    assert b"AUTH=SCRAM-SHA-256" in r.cmd(b"c CAPABILITY")[0]
    cnonce = b64(os.urandom(12)).decode()
    first_bare = f"n={user},r={cnonce}"
    r.send(b"a AUTHENTICATE SCRAM-SHA-256 " + b64(("n,," + first_bare).encode()) + b"\r\n")
    line = r.line()
    if not line.startswith(b"+ "):
        return [line]
    server_first = base64.b64decode(line[2:].strip()).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    sig = hmac.new(stored, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    r.send(b64(f"{without_proof},p={b64(proof).decode()}".encode()) + b"\r\n")
    line = r.line()
    if not line.startswith(b"+ "):
        return [line]
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = b"v=" + b64(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    assert base64.b64decode(line[2:].strip()) == expected  # the server knows the key too
    r.send(b"\r\n")
    out = [line, *r.until(b"a")]
    r.close()
    return out


async def test_scram_sha256(env: Env) -> None:
    ok = await run(lambda: scram_exchange(env, "alice@example.org", PASSWORD))
    assert ok[-1].startswith(b"a OK [CAPABILITY")
    wrong = await run(lambda: scram_exchange(env, "alice", "wrong"))
    assert wrong[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
    unknown = await run(lambda: scram_exchange(env, "nobody", "wrong"))
    assert unknown[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")


async def test_large_append_and_streamed_fetch(env: Env) -> None:
    """A 150 kB message: its APPEND literal goes to a file, BODY[] is streamed
    from the message file, a partial range of it is exact."""
    body = b"".join(b"line %06d of a long message\r\n" % i for i in range(5000))
    message = MESSAGE + body

    def client() -> None:
        c = env.login()
        typ, data = c.append("INBOX", None, None, message)
        assert typ == "OK"
        c.select("INBOX")
        typ, data = c.fetch("1", "(BODY.PEEK[] BODY.PEEK[TEXT]<100000.60>)")
        assert typ == "OK"
        assert data[0][1] == message
        text = message[message.index(b"\r\n\r\n") + 4 :]
        assert data[1][1] == text[100000:100060]
        c.logout()

    await run(client)
    assert not list(env.cfg.datadir.tmp.glob("imap-*"))  # the spilled literal is gone


async def test_search_keys_on_messages(env: Env) -> None:
    big = MESSAGE.replace(b"Subject: hello there", b"Subject: quarterly report") + b"x" * 5000
    env.deliver(MESSAGE)  # 1: small, "hello there"
    env.deliver(big)  # 2: large
    env.deliver(NESTED)  # 3: multipart, "inner text" in a nested part

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        r.cmd(b"t STORE 2 +FLAGS.SILENT (\\Flagged $Work)")

        def search(keys: bytes) -> bytes:
            return r.cmd(b"q SEARCH " + keys)[0].strip()

        assert search(b"ALL") == b"* SEARCH 1 2 3"
        assert search(b'SUBJECT "REPORT"') == b"* SEARCH 2"
        assert search(b"FROM bob") == b"* SEARCH 1 2"
        assert search(b'BODY "inner text"') == b"* SEARCH 3"
        assert search(b'TEXT "Message-ID: <m1@"') == b"* SEARCH 1 2"
        assert search(b'HEADER Content-Type "multipart/mixed"') == b"* SEARCH 3"
        assert search(b"LARGER 4000") == b"* SEARCH 2"
        assert search(b"FLAGGED KEYWORD $Work") == b"* SEARCH 2"
        assert search(b"OR 1 3 NOT SEEN") == b"* SEARCH 1 3"
        assert search(b"NOT (UID 1:2)") == b"* SEARCH 3"
        assert search(b"SENTON 7-Dec-2026") == b"* SEARCH 1 2"
        assert search(b"SINCE 1-Jan-2000 BEFORE 1-Jan-2001") == b"* SEARCH"
        out = r.cmd(b"e SEARCH RETURN (MIN MAX COUNT) UNFLAGGED")
        assert out[0] == b'* ESEARCH (TAG "e") MIN 1 MAX 3 COUNT 2\r\n'
        r.close()

    await run(client)


def test_imap_port_needs_a_certificate(tmp_path: Path) -> None:
    import trustme

    from postel.config.errors import ConfigError
    from postel.imapserver.service import listen_plan
    from postel.smtpserver.errors import ListenerConfigError

    static = STATIC.replace('tls_cert_file = "cert.pem"\ntls_key_file = "key.pem"\n', "")
    with pytest.raises(ConfigError, match=r"tls_cert_file.*required for TLS"):
        make_config(tmp_path, trustme.CA(), static)
    cfg = make_config(tmp_path, trustme.CA())
    lst = cfg.static.listeners["local"]
    lst.tls_cert_file = lst.tls_key_file = ""
    with pytest.raises(ListenerConfigError, match="listener 'local': imap needs tls_cert_file"):
        listen_plan(cfg)


async def test_rename_and_delete_of_the_selected_mailbox(env: Env) -> None:
    env.store.account("alice").create_mailbox("Projects")
    env.store.account("alice").create_mailbox("Projects/a")
    env.deliver(mailbox="Projects/a")

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT Projects/a")
        assert r.cmd(b"m RENAME Projects Work")[-1].startswith(b"m OK")
        out = r.cmd(b"f FETCH 1 (FLAGS)")
        assert out[0].startswith(b"* 1 FETCH") and out[-1].startswith(b"f OK")
        assert r.cmd(b"d DELETE Work/a")[-1].startswith(b"d OK")
        assert r.cmd(b"g FETCH 1 (FLAGS)")[-1].startswith(b"g BAD")  # nothing selected
        r.close()

    await run(client)


async def test_store_without_change_writes_nothing(env: Env) -> None:
    env.deliver()
    env.deliver()
    account = env.store.account("alice")

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        before = account.highest_modseq()
        r.cmd(b"a STORE 1 +FLAGS.SILENT (\\Seen)")
        assert account.highest_modseq() == before + 1
        out = r.cmd(b"b STORE 1:2 +FLAGS (\\SEEN)")  # message 1 has it already
        assert account.highest_modseq() == before + 2  # one transaction for both
        assert out[0] == b"* 1 FETCH (FLAGS (\\Seen))\r\n"
        assert out[1] == b"* 2 FETCH (FLAGS (\\Seen))\r\n"
        r.cmd(b"c STORE 1:2 -FLAGS.SILENT (\\Flagged)")  # neither has it
        assert account.highest_modseq() == before + 2
        r.close()
