"""The client's reverse DNS name in the Received header: looked up on the first
connection, taken from the cache (no lookup task) on the next ones."""

from __future__ import annotations

from smtpserver_env import Env, run

from postel.dns import NotFound

MSG = b"From: someone@sender.test\r\nTo: alice@example.org\r\nSubject: rdns\r\n\r\nHi.\r\n"
PTR = "1.0.0.127.in-addr.arpa"


def send(env: Env) -> None:
    with env.smtp() as c:
        c.sendmail("someone@sender.test", ["alice@example.org"], MSG)


def heads(env: Env) -> list[str]:
    msgs = sorted(env.messages("alice"), key=lambda m: m.msgid)
    out = []
    for m in msgs:
        head = env.message_bytes("alice", m).split(b"\r\n\r\n")[0].decode()
        out.append(head.replace("\r\n\t", " "))
    return out


async def test_rdns_name_fresh_and_cached(env: Env) -> None:
    env.resolver.set(PTR, "PTR", ["client.sender.test."])
    await run(lambda: send(env))
    assert env.service.ctx.resolver.peek(PTR, "PTR") is not None  # type: ignore[attr-defined]
    await run(lambda: send(env))
    got = heads(env)
    assert len(got) == 2
    for head in got:
        assert "from client.sender.test (client.sender.test [127.0.0.1])" in head


async def test_no_rdns_name_fresh_and_cached(env: Env) -> None:
    await run(lambda: send(env))
    cached = env.service.ctx.resolver.peek(PTR, "PTR")  # type: ignore[attr-defined]
    assert isinstance(cached, NotFound)
    await run(lambda: send(env))
    got = heads(env)
    assert len(got) == 2
    for head in got:
        assert "from client.sender.test ([127.0.0.1])" in head
