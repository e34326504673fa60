"""Authentication-Results fields carrying our authserv-id are removed from
received and submitted mail before ours is added (RFC 8601 §5)."""

from __future__ import annotations

from smtpserver_env import HOSTNAME, PASSWORD, Env, run

FOREIGN = b"Authentication-Results: mx.other.example; dkim=pass header.d=other.example\r\n"
PLANTED = (
    (
        f"Authentication-Results: {HOSTNAME}; dmarc=pass header.from=example.org\r\n"
        "From: Sender <someone@sender.test>\r\n"
        "To: alice@example.org\r\n"
        f"authentication-results : (comment) {HOSTNAME.upper()};\r\n"
        "\tspf=pass smtp.mailfrom=example.org;\r\n"
        "\tdmarc=pass header.from=example.org\r\n"
        "Subject: hello\r\n"
        f'Authentication-Results: "{HOSTNAME}" 1; dkim=pass header.d=example.org\r\n'
    ).encode()
    + FOREIGN
    + (
        f"AUTHENTICATION-RESULTS:{HOSTNAME}.;dmarc=pass\r\n"
        "Message-ID: <1@sender.test>\r\n"
        "\r\n"
        f"Authentication-Results: {HOSTNAME}; dmarc=pass (in the body: kept)\r\n"
    ).encode()
)


def header_fields(data: bytes) -> list[bytes]:
    """The unfolded header fields of a stored message."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")
    return head.split(b"\r\n")


def results_fields(data: bytes) -> list[bytes]:
    return [f for f in header_fields(data) if f.lower().startswith(b"authentication-results")]


async def test_planted_results_removed_on_incoming(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            return c.data(PLANTED)

    code, text = await run(go)
    assert code == 250, text
    (msg,) = env.messages("alice")
    data = env.message_bytes("alice", msg)
    fields = results_fields(data)
    # Ours (first, added by the server: the sender is not aligned, so no dmarc=pass),
    # then the other server's, which is kept.
    assert len(fields) == 2, fields
    assert fields[0].startswith(f"Authentication-Results: {HOSTNAME};".encode())
    assert b"dmarc=pass" not in fields[0]
    assert fields[1] == FOREIGN.rstrip(b"\r\n")
    # The rest of the header and the body are unchanged.
    assert b"\r\nSubject: hello\r\nAuthentication-Results: mx.other" in data
    assert data.endswith(
        b"Message-ID: <1@sender.test>\r\n\r\n"
        + f"Authentication-Results: {HOSTNAME}; dmarc=pass (in the body: kept)\r\n".encode()
    )


async def test_planted_results_removed_on_submission(env: Env) -> None:
    message = (
        f"Authentication-Results: {HOSTNAME}; dmarc=pass header.from=example.org\r\n"
        "From: Alice <alice@example.org>\r\n"
        "To: bob@example.org\r\n"
        "Subject: from alice\r\n"
        "\r\n"
        "Hi Bob.\r\n"
    ).encode()

    def go() -> tuple[int, bytes]:
        with env.submission() as c:
            c.starttls(context=env.client_context())
            c.login("alice@example.org", PASSWORD)
            c.mail("alice@example.org")
            c.rcpt("bob@example.org")
            return c.data(message)

    code, text = await run(go)
    assert code == 250, text
    (msg,) = env.messages("bob")
    assert results_fields(env.message_bytes("bob", msg)) == []
