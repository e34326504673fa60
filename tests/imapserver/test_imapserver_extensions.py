"""SEARCHRES (RFC 5182), MULTIAPPEND (RFC 3502), BINARY (RFC 3516) and
UTF8=ACCEPT (RFC 6855): parsing, the pure parts, and sessions over real
connections."""

from __future__ import annotations

import asyncio
import base64
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from imap_env import MESSAGE, STATIC, Env, Raw, env_with, raw_tls, run
from test_imapserver_quota import message, pg_cluster, pg_database, qenv

from postel.imapserver import binary, compress, searchres
from postel.imapserver.command import parse_command
from postel.imapserver.errors import ParseError
from postel.imapserver.literal import SpilledLiteral
from postel.imapserver.reader import Limits, LineTooLong, LiteralTooBig, read_command, read_line
from postel.imapserver.seqset import SeqSet

__all__ = ["pg_cluster", "pg_database", "qenv"]


def msg(subject: str, body: bytes = b"hello\r\n", headers: bytes = b"") -> bytes:
    return (
        b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: "
        + subject.encode()
        + b"\r\n"
        + headers
        + b"\r\n"
        + body
    )


# -- SEARCHRES ------------------------------------------------------------------


def test_dollar_parses_as_the_saved_result() -> None:
    cmd = parse_command([b"t UID FETCH $ (FLAGS)"])
    assert cmd.seqset is not None and cmd.seqset.saved and str(cmd.seqset) == "$"
    cmd = parse_command([b"t SEARCH RETURN (SAVE) UNSEEN"])
    assert cmd.search is not None and cmd.search.returns == ("SAVE",)
    with pytest.raises(ParseError):  # "$" stands alone (RFC 5182 §3 "seq-set")
        parse_command([b"t FETCH $,1 FLAGS"])
    with pytest.raises(ParseError):  # not in QRESYNC's known UIDs
        parse_command([b"t SELECT INBOX (QRESYNC (1 2 $))"])


def test_what_save_keeps_and_binding() -> None:
    assert searchres.to_save(("SAVE",), [3, 5, 9]) == [3, 5, 9]
    assert searchres.to_save(("SAVE", "MIN"), [3, 5, 9]) == [3]
    assert searchres.to_save(("SAVE", "MIN", "MAX"), [3, 5, 9]) == [3, 9]
    assert searchres.to_save(("SAVE", "MIN", "COUNT"), [3, 5, 9]) == [3, 5, 9]
    assert searchres.as_seqset([1, 2, 3, 7]) == SeqSet(((1, 3), (7, 7)))
    msns = {3: 1, 5: 0, 9: 2}  # UID 5 was expunged
    cmd = parse_command([b"t FETCH $ FLAGS"])
    searchres.bind(cmd, [3, 5, 9], lambda u: msns[u])
    assert cmd.seqset == SeqSet(((1, 2),))
    cmd = parse_command([b"t UID SEARCH OR $ 4:5"])
    searchres.bind(cmd, [3, 9], lambda u: 0)
    assert cmd.search is not None and "Seq(seqset=SeqSet(ranges=((3, 3), (9, 9))" in repr(
        cmd.search.key
    )


async def test_search_save_then_dollar_in_later_commands(env: Env) -> None:
    for i in range(1, 6):
        env.deliver(msg(f"n{i}" if i % 2 else f"keep{i}"))

    def client() -> None:
        r = raw_tls(env)
        assert b"SEARCHRES" in r.cmd(b"c CAPABILITY")[0]
        r.cmd(b"s SELECT INBOX")
        # SAVE alone: no ESEARCH response (RFC 5182 §2.4).
        assert r.cmd(b"a SEARCH RETURN (SAVE) SUBJECT keep") == [b"a OK SEARCH completed\r\n"]
        out = r.cmd(b"b FETCH $ (UID)")
        assert out[:-1] == [b"* 2 FETCH (UID 2)\r\n", b"* 4 FETCH (UID 4)\r\n"]
        out = r.cmd(b"c UID STORE $ +FLAGS.SILENT (\\Flagged)")
        assert out[-1].startswith(b"c OK")
        out = r.cmd(b"d UID SEARCH FLAGGED")
        assert out[0] == b"* SEARCH 2 4\r\n"
        # "$" in SEARCH keys, and SAVE with other options answers them too.
        out = r.cmd(b"e SEARCH RETURN (SAVE COUNT) NOT $")
        assert out[0] == b'* ESEARCH (TAG "e") COUNT 3\r\n'
        assert r.cmd(b"f UID COPY $ Trash")[-1].startswith(b"f OK [COPYUID ")
        out = r.cmd(b"g UID SEARCH RETURN (SAVE MIN) ALL")
        assert out[0] == b'* ESEARCH (TAG "g") UID MIN 1\r\n'
        out = r.cmd(b"h FETCH $ (UID)")
        assert out[:-1] == [b"* 1 FETCH (UID 1)\r\n"]
        # A new selection starts with an empty result (RFC 5182 §2.1).
        r.cmd(b"i SELECT INBOX")
        assert r.cmd(b"j FETCH $ (UID)") == [b"j OK FETCH completed\r\n"]
        r.close()

    await run(client)
    acc = env.store.account("alice")
    assert acc.mailbox("Trash").total == 3


async def test_saved_result_follows_expunges(env: Env) -> None:
    for i in range(1, 5):
        env.deliver(msg(f"m{i}"))

    def client() -> None:
        r = raw_tls(env)
        r.cmd(b"s SELECT INBOX")
        r.cmd(b"a SEARCH RETURN (SAVE) 3:4")
        r.cmd(b"b STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert r.cmd(b"c EXPUNGE")[0] == b"* 1 EXPUNGE\r\n"
        out = r.cmd(b"d FETCH $ (UID)")  # the same messages, now numbers 2 and 3
        assert out[:-1] == [b"* 2 FETCH (UID 3)\r\n", b"* 3 FETCH (UID 4)\r\n"]
        r.close()

    await run(client)


# -- MULTIAPPEND and literal8 ----------------------------------------------------


def test_multiappend_and_literal8_parse() -> None:
    cmd = parse_command(
        [b"t APPEND Sent (\\Seen) ~", b"one", b' "07-Dec-2026 10:00:00 +0100" ', b"two", b""]
    )
    first, second = cmd.messages
    assert (first.data, first.flags, first.binary, first.date) == (b"one", ("\\Seen",), True, None)
    assert second.data == b"two" and not second.binary and second.date is not None
    cmd = parse_command([b"t APPEND INBOX UTF8 (~", b"x", b")"])
    assert cmd.messages[0].utf8 and cmd.messages[0].binary
    for parts in (
        [b"t APPEND INBOX UTF8 (", b"x", b")"],  # UTF8 takes a literal8
        [b"t APPEND INBOX ", b"x", b" (\\Seen)"],  # a second message without data
        [b"t APPEND INBOX ", b"", b""],  # empty
        [b"t LOGIN ~", b"alice", b" pw"],  # literal8 only where the grammar has it
    ):
        with pytest.raises(ParseError):
            parse_command(parts)


async def _read(data: bytes, limits: Limits) -> list[bytes | SpilledLiteral]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()

    async def go_ahead() -> None:
        pass

    return await read_command(reader, limits, go_ahead)


async def test_reader_keeps_the_tilde_and_bounds_all_literals(tmp_path: Path) -> None:
    limits = Limits(1000, 10, tmp_path, max_total=15)
    parts = await _read(b"a APPEND INBOX ~{3}\r\nabc ~{3+}\r\ndef\r\n", limits)
    assert parts == [b"a APPEND INBOX ~", b"abc", b" ~", b"def", b""]
    # Each literal within the limit, all of them together above it.
    with pytest.raises(LiteralTooBig) as exc:
        await _read(b"a APPEND INBOX {8}\r\n12345678 {8}\r\n12345678\r\n", limits)
    assert "in total" in str(exc.value) and exc.value.tag == b"a"


async def test_multiappend_appends_all_with_one_appenduid(env: Env) -> None:
    one, two, three = msg("one"), msg("two", b"a\x00b\r\n"), msg("three")

    def client() -> None:
        r = raw_tls(env)
        assert b"MULTIAPPEND" in r.cmd(b"c CAPABILITY")[0]
        r.send(
            b"a APPEND Sent (\\Seen) {%d+}\r\n%s ~{%d+}\r\n%s" % (len(one), one, len(two), two)
            + b' (\\Draft) "07-Dec-2026 10:00:00 +0100" {%d+}\r\n%s\r\n' % (len(three), three)
        )
        out = r.until(b"a")
        uidvalidity = env.store.account("alice").mailbox("Sent").uidvalidity
        assert out[-1].startswith(b"a OK [APPENDUID %d 1:3]" % uidvalidity)
        r.cmd(b"s SELECT Sent")
        text = b"".join(r.cmd(b"f FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[])"))
        assert one in text and two in text and three in text
        assert b"* 1 FETCH (FLAGS (\\Seen)" in text and b"* 3 FETCH (FLAGS (\\Draft)" in text
        assert b'INTERNALDATE "07-Dec-2026 09:00:00 +0000"' in text
        r.close()

    await run(client)


async def test_multiappend_is_all_or_none(qenv: Env) -> None:
    small, big = message(3000), message(9000)  # alice's quota is 10 KiB

    def client() -> None:
        r = raw_tls(qenv)
        r.send(b"a APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(small), small, len(big), big))
        assert r.until(b"a")[-1].startswith(b"a NO [OVERQUOTA]")
        r.cmd(b"s SELECT INBOX")
        assert r.cmd(b"f FETCH 1:* (UID)") == [b"f OK FETCH completed\r\n"]
        r.close()

    await run(client)
    inbox = await asyncio.to_thread(qenv.store.account("alice").mailbox, "INBOX")
    assert inbox.total == 0


@pytest.fixture
async def tenv(tmp_path: Path) -> AsyncIterator[Env]:
    """The env with max_append_total of 500000 (APPENDLIMIT is 200000)."""
    static = STATIC.replace("[imap]\n", "[imap]\nmax_append_total = 500000\n")
    async for e in env_with(tmp_path, static):
        yield e


async def test_multiappend_total_above_the_limit_is_refused(tenv: Env) -> None:
    env = tenv

    def client() -> None:
        r = raw_tls(env)
        # Each below APPENDLIMIT (200000 here), together above max_append_total.
        limit = env.cfg.static.imap.max_append_total
        assert limit == 500_000
        parts = [b"x" * 150_000] * (limit // 150_000 + 1)
        r.send(b"a APPEND INBOX {150000}\r\n")
        assert r.line().startswith(b"+")
        r.send(parts[0])
        for _ in parts[1:]:
            r.send(b" {150000}\r\n")
            line = r.line()
            if not line.startswith(b"+"):
                assert line.startswith(b"a NO [TOOBIG]") and b"in total" in line
                break
            r.send(b"x" * 150_000)
        else:
            raise AssertionError("the total was not bounded")
        assert r.cmd(b"b NOOP")[-1].startswith(b"b OK")
        r.close()

    await run(client)
    assert env.store.account("alice").mailbox("INBOX").total == 0


# -- BINARY -----------------------------------------------------------------------

B64_BODY = base64.encodebytes(b"\x00\x01binary\xff" * 20)
BINARY_MSG = (
    b"From: bob@example.org\r\nSubject: parts\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"J=C3=B6rg says hi=\r\n there\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_BODY.replace(b"\n", b"\r\n") + b"--b\r\n"
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 x\r\n"
    b"--b--\r\n"
)


def test_decoding() -> None:
    assert binary.decode("base64", b"aGVs\r\nbG8=\r\n") == b"hello"
    assert binary.decode("BASE64", b"aGVsbG8") == b"hello"  # padding repaired
    assert binary.decode("base64", b"aGV*sbG8=!") == b"hello"  # stray characters skipped
    assert binary.decode("quoted-printable", b"a=3Db=\r\nc") == b"a=bc"
    assert binary.decode("8bit", b"\xff") == b"\xff"
    with pytest.raises(binary.UnknownCTE):
        binary.decode("x-uuencode", b"")


async def test_fetch_binary_decodes_parts(env: Env) -> None:
    env.deliver(BINARY_MSG)

    def client() -> None:
        r = raw_tls(env)
        assert b"BINARY" in r.cmd(b"c CAPABILITY")[0]
        r.cmd(b"s SELECT INBOX")
        text = b"".join(r.cmd(b"f FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2] FLAGS)"))
        qp = "Jörg says hi there".encode()  # the CRLF before a boundary is the boundary's
        assert b"BINARY[1] {%d}\r\n" % len(qp) + qp in text
        assert b"BINARY.SIZE[2] %d" % (len(b"\x00\x01binary\xff") * 20) in text
        assert b"FLAGS ()" in text  # BINARY.PEEK and BINARY.SIZE leave \Seen alone
        # NULs in the content: a literal8 (RFC 3516 §4.2); partial of the decoded data.
        text = b"".join(r.cmd(b"g FETCH 1 (BINARY.PEEK[2]<2.6>)"))
        assert b"BINARY[2]<2> {6}\r\nbinary" in text
        r.send(b"h FETCH 1 (BINARY.PEEK[2])\r\n")
        head = r.line()
        assert head.endswith(b"BINARY[2] ~{%d}\r\n" % (len(b"\x00\x01binary\xff") * 20))
        r.until(b"h")
        out = r.cmd(b"i FETCH 1 (BINARY.PEEK[3])")
        assert out[-1].startswith(b"i NO [UNKNOWN-CTE]")
        assert b"\\Seen" in b"".join(r.cmd(b"j FETCH 1 (BINARY[1])"))
        r.close()

    await run(client)


async def test_append_literal8_keeps_nuls(env: Env) -> None:
    data = msg("bin", b"\x00\x00raw\r\n", b"Content-Transfer-Encoding: binary\r\n")

    def client() -> None:
        r = raw_tls(env)
        r.send(b"a APPEND INBOX ~{%d}\r\n" % len(data))
        assert r.line().startswith(b"+")
        r.send(data + b"\r\n")
        assert r.until(b"a")[-1].startswith(b"a OK [APPENDUID")
        r.cmd(b"s SELECT INBOX")
        r.send(b"f FETCH 1 (BINARY.PEEK[1])\r\n")
        assert r.line().endswith(b"BINARY[1] ~{7}\r\n")
        assert r.until(b"f")[0] == b"\x00\x00raw\r\n"
        r.close()

    await run(client)


# -- UTF8=ACCEPT ------------------------------------------------------------------


async def test_utf8_accept(env: Env) -> None:
    def client() -> None:
        r = raw_tls(env)
        assert b"UTF8=ACCEPT" in r.cmd(b"c CAPABILITY")[0]
        # Before ENABLE: modified UTF-7 names, and no UTF8 APPEND item.
        assert r.cmd(b"a CREATE &AMk-t&AOk-")[-1].startswith(b"a OK")
        assert b"&AMk-t&AOk-" in b"".join(r.cmd(b'b LIST "" *'))
        r.send(b"u APPEND INBOX UTF8 (~{%d+}\r\n" % len(MESSAGE) + MESSAGE + b")\r\n")
        assert r.until(b"u")[-1].startswith(b"u BAD")
        assert r.cmd(b"e ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT\r\n"
        listed = b"".join(r.cmd(b'l LIST "" *'))
        assert "Été".encode() in listed and b"&AMk" not in listed
        name = "Résumé".encode()
        assert r.cmd(b'm CREATE "' + name + b'"')[-1].startswith(b"m OK")
        data = b"Subject: caf\xc3\xa9\r\nFrom: b@example.org\r\n\r\nhi\r\n"
        r.send(b'n APPEND "' + name + b'" UTF8 (~{%d+}\r\n' % len(data) + data + b")\r\n")
        assert r.until(b"n")[-1].startswith(b"n OK [APPENDUID")
        r.cmd(b'o SELECT "' + name + b'"')
        # No downgrade: the UTF-8 header is served as it was appended.
        assert data in b"".join(r.cmd(b"p FETCH 1 BODY.PEEK[]"))
        # RFC 6855 §3: no SEARCH CHARSET once UTF8=ACCEPT is on.
        assert r.cmd(b"q SEARCH CHARSET UTF-8 ALL")[-1].startswith(b"q BAD")
        assert r.cmd(b'q2 SEARCH SUBJECT "caf\xc3\xa9"')[0] == b"* SEARCH 1\r\n"
        r.close()

    await run(client)
    assert env.store.account("alice").mailbox("Résumé").total == 1


# -- COMPRESS=DEFLATE ------------------------------------------------------------


class Deflated:
    """A client's side of COMPRESS=DEFLATE over a Raw connection."""

    def __init__(self, r: Raw) -> None:
        self.r = r
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inp = zlib.decompressobj(-15)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.r.send(self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH))

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.r.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += self.inp.decompress(chunk)
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def cmd(self, line: bytes) -> list[bytes]:
        tag = line.split(b" ", 1)[0]
        self.send(line + b"\r\n")
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(tag + b" "):
                return out


async def test_compress_deflate_session(env: Env) -> None:
    env.deliver(MESSAGE)

    def client() -> None:
        r = raw_tls(env)
        assert b"COMPRESS=DEFLATE" in r.cmd(b"c CAPABILITY")[0]
        assert r.cmd(b"x COMPRESS LZMA")[-1].startswith(b"x BAD")
        assert r.cmd(b"z COMPRESS DEFLATE") == [b"z OK DEFLATE active\r\n"]
        r.file.close()  # from here on the socket carries DEFLATE both ways
        d = Deflated(r)
        assert d.cmd(b"a SELECT INBOX")[-1].startswith(b"a OK [READ-WRITE]")
        text = b"".join(d.cmd(b"b FETCH 1 (BODY.PEEK[])"))
        assert MESSAGE in text
        d.send(b"c APPEND INBOX {%d}\r\n" % len(MESSAGE))
        assert d.line().startswith(b"+")
        d.send(MESSAGE + b"\r\n")
        out = [d.line()]
        while not out[-1].startswith(b"c "):
            out.append(d.line())
        assert out[-1].startswith(b"c OK [APPENDUID")
        assert d.cmd(b"d COMPRESS DEFLATE")[-1].startswith(b"d NO [COMPRESSIONACTIVE]")
        # A line far above the limit, which deflates to almost nothing: BAD, and on.
        d.send(b"e NOOP " + b"x" * 5_000_000 + b"\r\n")
        assert d.line().startswith(b"* BAD")
        assert d.cmd(b"f LOGOUT")[-1].startswith(b"f OK")
        r.sock.close()

    await run(client)


class _Chunks:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int = -1) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out


async def test_inflating_reader_holds_little_of_a_bomb() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"\0" * 50_000_000) + bomb.compress(b"\r\nb NOOP\r\n")
    data += bomb.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 100_000  # 50 MB in under 100 KB
    reader = compress.InflatingReader(_Chunks(data), 1002)
    most = 0
    fill = reader._fill

    async def watched() -> None:
        nonlocal most
        await fill()
        most = max(most, reader.buffered())

    reader._fill = watched  # type: ignore[method-assign]
    with pytest.raises(LineTooLong):
        await read_line(reader, 1000)
    assert await read_line(reader, 1000) == b"b NOOP\r\n"
    assert most <= 1002 + compress.CHUNK


async def test_inflating_reader_says_when_the_stream_is_corrupt() -> None:
    reader = compress.InflatingReader(_Chunks(b"\xff\xff\xff\xff garbage"), 1002)
    with pytest.raises(compress.CorruptStream):
        await reader.readuntil(b"\n")
