"""Command lines with bytes that are not UTF-8 get a 500 reply; the session goes on
(found by fuzzing: parse_path raised UnicodeEncodeError and the session died)."""

from __future__ import annotations

from smtpserver_env import Env, run


async def test_invalid_utf8_in_commands_is_refused(env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as c:
            c.send(b"EHLO \xff\xfe\r\n")
            out = [c.getreply()]
            c.ehlo("client.test")
            c.mail("someone@sender.test")
            c.send(b"RCPT TO:<\xff@example.org>\r\n")
            out.append(c.getreply())
            c.send(b"MAIL FROM:<\xfe@x.test>\r\n")
            out.append(c.getreply())
            out.append(c.noop())
            return out

    replies = await run(go)
    assert [code for code, _ in replies] == [500, 500, 500, 250]
    assert b"not valid UTF-8" in replies[1][1]
