"""deliver_session against a scripted SMTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from smtpclient_fake import MX, PKI, FakeSMTP, Script

from postel.dane import tlsa_for
from postel.log import TRACE
from postel.smtpclient import SessionResult, TLSMode, TLSPolicy, deliver_session, unstuff
from postel.tlsrpt.report import ResultType

Server = Callable[[Script], FakeSMTP]
MakePolicy = Callable[..., TLSPolicy]

RCPT = "b@example.org"


async def deliver(
    srv: FakeSMTP,
    tls: TLSPolicy,
    message: Path,
    rcpts: list[str] | None = None,
    **kw: Any,
) -> SessionResult:
    args: dict[str, Any] = {
        "host": MX,
        "ip": "127.0.0.1",
        "port": srv.port,
        "tls": tls,
        "ehlo_name": "client.sender.example",
        "mail_from": "a@sender.example",
        "rcpts": rcpts or [RCPT],
        "message": message,
        "requiretls": False,
        "smtputf8": False,
        "eightbit": False,
        "connect_timeout": 5.0,
        "command_timeout": 5.0,
    }
    args.update(kw)
    return await deliver_session(**args)


def verbs(srv: FakeSMTP) -> list[str]:
    return [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in srv.seen.commands]


def leaf_cert(leaf: trustme.LeafCert) -> x509.Certificate:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


# -- STARTTLS modes --------------------------------------------------------------------


async def test_opportunistic_starttls_delivers(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(), message)
    assert r.error is None, r.error
    assert r.delivered == [RCPT]
    assert r.outcome(RCPT) == ("delivered", 250, "2.0.0", "queued as 1")
    assert r.connected and r.tls and r.starttls_offered
    assert r.tls_version in ("TLSv1.2", "TLSv1.3") and r.cipher
    assert r.pkix_ok is True and r.pkix_failure is None
    assert r.tls_success and r.tls_failure is None
    assert r.dane is None and r.dane_failure is None
    assert r.receiving_mx_helo == MX
    assert r.banner == f"{MX} ESMTP test"
    assert verbs(srv) == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    size = message.stat().st_size
    assert srv.seen.commands[3] == f"MAIL FROM:<a@sender.example> SIZE={size}"
    assert srv.seen.commands[4] == f"RCPT TO:<{RCPT}>"
    assert srv.seen.sni == [MX]
    assert unstuff(srv.seen.data[0]) == message.read_bytes()


async def test_sni_is_first_allowed_name(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(allowed_names=["mx.cname.example", MX]), message)
    assert r.delivered == [RCPT]
    assert srv.seen.sni == ["mx.cname.example"]


async def test_required_mode_starttls_refused(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, starttls_reply=["454 4.7.0 TLS not available"]))
    r = await deliver(srv, make_policy(TLSMode.STARTTLS_REQUIRED), message)
    assert r.error is not None and r.error.temporary
    assert r.tls_failure is not None
    assert r.tls_failure.result_type == ResultType.STARTTLS_NOT_SUPPORTED
    assert r.tls_failure.receiving_mx_hostname == MX
    assert r.tls_failure.receiving_ip == "127.0.0.1"
    assert r.tls_failure.receiving_mx_helo == MX
    assert r.tls_failure.failed_session_count == 1
    assert "454" in r.tls_failure.additional_information
    assert not r.tls and not r.tls_success
    assert "MAIL" not in verbs(srv)
    assert r.outcome(RCPT)[0] == "temporary"


async def test_opportunistic_starttls_refused_continues_plaintext(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, starttls_reply=["454 4.7.0 TLS not available"]))
    r = await deliver(srv, make_policy(), message)
    assert r.delivered == [RCPT]
    assert not r.tls
    assert r.tls_failure is not None
    assert r.tls_failure.result_type == ResultType.STARTTLS_NOT_SUPPORTED


async def test_not_announced_opportunistic_is_plaintext(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["SIZE 100000", "8BITMIME"]))
    r = await deliver(srv, make_policy(), message)
    assert r.delivered == [RCPT]
    assert not r.tls and not r.starttls_offered
    assert r.tls_failure is None and not r.tls_success and r.pkix_ok is None
    assert "STARTTLS" not in verbs(srv)


async def test_required_mode_sends_starttls_even_if_not_announced(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, extensions=["SIZE 100000"]))
    r = await deliver(srv, make_policy(TLSMode.STARTTLS_REQUIRED), message)
    assert r.delivered == [RCPT]
    assert r.tls and not r.starttls_offered and r.tls_success


async def test_skip_mode_never_starts_tls(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.delivered == [RCPT]
    assert not r.tls and r.starttls_offered
    assert "STARTTLS" not in verbs(srv)


async def test_immediate_tls(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, implicit_tls=True))
    r = await deliver(srv, make_policy(TLSMode.IMMEDIATE, verify_pkix=True), message)
    assert r.error is None, r.error
    assert r.delivered == [RCPT] and r.tls and r.pkix_ok and r.tls_success
    assert verbs(srv) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


async def test_immediate_tls_pkix_failure_gets_helo(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context("other.example.net")
    srv = server(Script(tls_context=ctx, implicit_tls=True))
    r = await deliver(srv, make_policy(TLSMode.IMMEDIATE), message)
    assert r.delivered == [RCPT]
    assert r.pkix_failure is not None
    assert r.pkix_failure.result_type == ResultType.CERTIFICATE_HOST_MISMATCH
    assert r.pkix_failure.receiving_mx_helo == MX
    assert r.pkix_failure.sending_mta_ip == "127.0.0.1"


async def test_missing_message_file_raises(make_policy: MakePolicy, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await deliver_session(
            host=MX,
            ip="127.0.0.1",
            port=9,
            tls=make_policy(),
            ehlo_name="c.example",
            mail_from="",
            rcpts=[RCPT],
            message=tmp_path / "missing.eml",
            requiretls=False,
            smtputf8=False,
            eightbit=False,
            connect_timeout=1,
            command_timeout=1,
        )


# -- PKIX ------------------------------------------------------------------------------

PAST = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("kind", "result_type"),
    [
        ("expired", ResultType.CERTIFICATE_EXPIRED),
        ("wrong-name", ResultType.CERTIFICATE_HOST_MISMATCH),
        ("untrusted", ResultType.CERTIFICATE_NOT_TRUSTED),
    ],
)
@pytest.mark.parametrize("enforce", [False, True])
async def test_pkix_failures(
    server: Server,
    pki: PKI,
    make_policy: MakePolicy,
    message: Path,
    kind: str,
    result_type: ResultType,
    enforce: bool,
) -> None:
    if kind == "expired":
        ctx, _ = pki.server_context(not_before=PAST - dt.timedelta(days=30), not_after=PAST)
    elif kind == "wrong-name":
        ctx, _ = pki.server_context("other.example.net")
    else:
        ctx, _ = pki.server_context(ca=trustme.CA())
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(verify_pkix=enforce), message)
    assert r.tls and r.pkix_ok is False
    assert r.pkix_failure is not None
    assert r.pkix_failure.result_type == result_type
    assert r.pkix_failure.receiving_mx_hostname == MX
    assert r.pkix_failure.additional_information
    assert r.tls_failure is None
    if enforce:
        assert r.verification_failed and not r.tls_success
        assert r.error is not None and r.error.temporary
        assert "MAIL" not in verbs(srv)
    else:
        assert r.delivered == [RCPT] and r.tls_success and not r.verification_failed


async def test_ignore_verification_errors_continues(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context(ca=trustme.CA())
    srv = server(Script(tls_context=ctx))
    tls = make_policy(TLSMode.STARTTLS_REQUIRED, verify_pkix=True, ignore_verification_errors=True)
    r = await deliver(srv, tls, message)
    assert r.delivered == [RCPT]
    assert r.pkix_failure is not None
    assert r.pkix_failure.result_type == ResultType.CERTIFICATE_NOT_TRUSTED
    assert not r.verification_failed


# -- DANE ------------------------------------------------------------------------------


async def test_dane_ee_match_with_untrusted_pkix(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, leaf = pki.server_context(ca=trustme.CA())
    srv = server(Script(tls_context=ctx))
    tls = make_policy(
        TLSMode.STARTTLS_REQUIRED,
        dane_records=[tlsa_for(leaf_cert(leaf))],
        verify_dane=True,
        allowed_names=[MX],
    )
    r = await deliver(srv, tls, message)
    assert r.delivered == [RCPT]
    assert r.dane is not None and r.dane.matched and r.dane_failure is None
    assert r.pkix_ok is False  # evaluated for reporting, not enforced


@pytest.mark.parametrize("enforce", [True, False])
async def test_dane_mismatch(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path, enforce: bool
) -> None:
    ctx, _ = pki.server_context()
    _, other = pki.server_context()
    srv = server(Script(tls_context=ctx))
    tls = make_policy(
        TLSMode.STARTTLS_REQUIRED,
        dane_records=[tlsa_for(leaf_cert(other))],
        verify_dane=enforce,
        allowed_names=[MX],
    )
    r = await deliver(srv, tls, message)
    assert r.dane is not None and not r.dane.matched
    assert r.dane_failure is not None
    assert r.dane_failure.result_type == "validation-failure"
    assert r.dane_failure.failure_reason_code == "dane-no-match"
    assert r.pkix_ok is True
    if enforce:
        assert r.verification_failed and r.error is not None and r.error.temporary
        assert "MAIL" not in verbs(srv)
    else:
        assert r.delivered == [RCPT]


async def test_dane_mismatch_ignored_with_tls_required_no(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    _, other = pki.server_context()
    srv = server(Script(tls_context=ctx))
    tls = make_policy(
        TLSMode.STARTTLS_REQUIRED,
        dane_records=[tlsa_for(leaf_cert(other))],
        verify_dane=True,
        ignore_verification_errors=True,
    )
    r = await deliver(srv, tls, message)
    assert r.delivered == [RCPT] and r.dane_failure is not None


# -- handshake failures ------------------------------------------------------------------


async def test_handshake_garbage_is_validation_failure(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, garbage_after_starttls=True))
    r = await deliver(srv, make_policy(), message)
    assert r.tls_failure is not None
    assert r.tls_failure.result_type == ResultType.VALIDATION_FAILURE
    assert r.tls_failure.failure_reason_code.startswith("tls-local-")
    assert not r.tls_success and r.error is not None and r.error.temporary


async def test_handshake_connection_closed(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, close_after_starttls=True))
    r = await deliver(srv, make_policy(), message)
    assert r.tls_failure is not None
    assert r.tls_failure.failure_reason_code == "connection-closed-during-handshake"


async def test_handshake_alert_tls12(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    # A TLS 1.2 server demanding a client certificate aborts the handshake with an alert.
    ctx, _ = pki.server_context(max_version=ssl.TLSVersion.TLSv1_2, require_client_cert=True)
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(), message)
    assert r.tls_failure is not None
    assert r.tls_failure.result_type == ResultType.VALIDATION_FAILURE
    assert r.tls_failure.failure_reason_code.startswith("tls-remote-alert-"), r.tls_failure
    assert not r.tls_success


async def test_alert_on_first_read_after_handshake_tls13(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    # TLS 1.3: the client finishes its handshake before the server checks the
    # (missing) client certificate; the alert arrives on the first read.
    ctx, _ = pki.server_context(require_client_cert=True)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    srv = server(Script(tls_context=ctx))
    r = await deliver(srv, make_policy(), message)
    assert r.tls  # the handshake completed on our side
    assert not r.tls_success
    assert r.tls_failure is not None
    assert r.tls_failure.failure_reason_code == "tls-remote-alert-116-certificate-required"
    assert r.error is not None and r.error.temporary


# -- REQUIRETLS, SMTPUTF8, 8BITMIME, SIZE -------------------------------------------------


async def test_requiretls_supported(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, tls_extensions=["SIZE 100000", "REQUIRETLS"]))
    r = await deliver(
        srv, make_policy(TLSMode.STARTTLS_REQUIRED, verify_pkix=True), message, requiretls=True
    )
    assert r.delivered == [RCPT]
    assert r.requiretls_offered
    mail = next(c for c in srv.seen.commands if c.startswith("MAIL"))
    assert mail.endswith(" REQUIRETLS")


async def test_requiretls_not_announced(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx))
    r = await deliver(
        srv,
        make_policy(TLSMode.STARTTLS_REQUIRED, verify_pkix=True),
        message,
        rcpts=[RCPT, "c@example.org"],
        requiretls=True,
    )
    assert not r.requiretls_offered
    assert r.error is not None and r.error.permanent
    assert (r.error.code, r.error.enhanced) == (550, "5.7.30")
    assert [(x.rcpt, x.code, x.enhanced, x.accepted) for x in r.rcpts] == [
        (RCPT, 550, "5.7.30", False),
        ("c@example.org", 550, "5.7.30", False),
    ]
    assert r.outcome("c@example.org")[:3] == ("permanent", 550, "5.7.30")
    assert "MAIL" not in verbs(srv)
    assert verbs(srv)[-1] == "QUIT"


async def test_requiretls_without_tls(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["REQUIRETLS"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, requiretls=True)
    assert r.error is not None and (r.error.code, r.error.enhanced) == (550, "5.7.30")
    assert "MAIL" not in verbs(srv)


async def test_mail_parameters(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(extensions=["SIZE", "8BITMIME", "SMTPUTF8"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, smtputf8=True, eightbit=True)
    assert r.delivered == [RCPT]
    size = message.stat().st_size
    assert srv.seen.commands[1] == (
        f"MAIL FROM:<a@sender.example> SIZE={size} BODY=8BITMIME SMTPUTF8"
    )


async def test_smtputf8_not_supported(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, smtputf8=True)
    assert r.error is not None and (r.error.code, r.error.enhanced) == (553, "5.6.7")
    assert "MAIL" not in verbs(srv)


async def test_size_over_announced_limit(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["SIZE 10"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.error is not None and r.error.permanent
    assert (r.error.code, r.error.enhanced) == (552, "5.3.4")


async def test_null_sender(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(extensions=[]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, mail_from="")
    assert r.delivered == [RCPT]
    assert srv.seen.commands[1] == "MAIL FROM:<>"


# -- replies ----------------------------------------------------------------------------


async def test_multiline_replies(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(
        Script(
            banner=["220-mx.example.org first", "220-second line", "220 third"],
            rcpt_replies={
                "bad@example.org": [
                    "550-5.1.1 no such user",
                    "550-5.1.1 really not",
                    "550 5.1.1 go away",
                ]
            },
            data_reply=["250-2.0.0 ok", "250 2.0.0 queued as 7"],
        )
    )
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, rcpts=["bad@example.org", RCPT])
    assert r.banner == "mx.example.org first"
    assert r.delivered == [RCPT]
    bad = r.rcpts[0]
    assert (bad.code, bad.enhanced, bad.accepted) == (550, "5.1.1", False)
    assert bad.text == "no such user really not go away"
    assert r.outcome("bad@example.org") == (
        "permanent",
        550,
        "5.1.1",
        "no such user really not go away",
    )
    assert r.data_reply == (250, "2.0.0", "ok queued as 7")


async def test_one_recipient_rejected_others_delivered(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(
        Script(
            rcpt_replies={
                "no@example.org": ["550 5.1.1 unknown"],
                "later@example.org": ["451 4.3.0 try later"],
            }
        )
    )
    rcpts = ["no@example.org", RCPT, "later@example.org"]
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, rcpts=rcpts)
    assert r.error is None
    assert r.delivered == [RCPT]
    assert r.outcome("no@example.org")[:2] == ("permanent", 550)
    assert r.outcome("later@example.org")[:2] == ("temporary", 451)
    assert r.outcome(RCPT)[0] == "delivered"
    assert verbs(srv) == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "QUIT"]


async def test_all_recipients_rejected_no_data(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"], rcpt_replies={RCPT: ["550 5.1.1 unknown"]}))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.delivered == []
    assert r.outcome(RCPT)[:2] == ("permanent", 550)
    assert "DATA" not in verbs(srv)


async def test_all_recipients_rejected_pipelined_sends_no_message(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    """With PIPELINING, DATA went out with the RCPTs; this server says 354 to it
    anyway, so the client ends the data at once (RFC 2920 §3.1): no message."""
    srv = server(Script(rcpt_replies={RCPT: ["550 5.1.1 unknown"]}))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.delivered == []
    assert r.outcome(RCPT)[:2] == ("permanent", 550)
    assert srv.seen.data == [b".\r\n"]
    assert verbs(srv) == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]


async def test_pipelining_sends_mail_rcpt_data_as_one_group(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    """RFC 2920: MAIL, the RCPTs and DATA in one write, replies read in order;
    per-recipient results as without pipelining."""
    srv = server(Script(rcpt_replies={"no@example.org": ["550 5.1.1 unknown"]}))
    rcpts = [RCPT, "no@example.org", "c@example.org"]
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, rcpts=rcpts)
    assert r.delivered == [RCPT, "c@example.org"]
    assert r.outcome("no@example.org")[:2] == ("permanent", 550)
    # The server found the rest of the group buffered behind each of these.
    assert srv.seen.pipelined == ["MAIL", "RCPT", "RCPT", "RCPT"]
    assert len(srv.seen.data) == 1


async def test_without_pipelining_commands_wait_for_replies(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(extensions=["8BITMIME"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, rcpts=[RCPT, "c@example.org"])
    assert r.delivered == [RCPT, "c@example.org"]
    assert srv.seen.pipelined == []


async def test_pipelined_mail_refused(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(
        Script(mail_reply=["451 4.3.0 try later"], raw_reply={"RCPT": b"503 5.5.1 no MAIL\r\n"})
    )
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    # This server says 354 even then: the data is ended at once, the message not sent.
    assert r.delivered == [] and srv.seen.data == [b".\r\n"]
    assert r.error is not None and r.error.code == 451 and not r.error.permanent
    assert r.outcome(RCPT)[:2] == ("temporary", 451)


async def test_ehlo_rejected_falls_back_to_helo(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(ehlo_reply=["502 5.5.1 EHLO not implemented"]))
    r = await deliver(srv, make_policy(), message)
    assert r.delivered == [RCPT]
    assert verbs(srv)[:3] == ["EHLO", "HELO", "MAIL"]
    assert r.extensions == {} and not r.starttls_offered


async def test_mail_from_rejected(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(mail_reply=["451 4.7.1 greylisted"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.error is not None and r.error.temporary
    assert (r.error.code, r.error.enhanced) == (451, "4.7.1")
    assert r.outcome(RCPT)[:3] == ("temporary", 451, "4.7.1")


async def test_banner_554_is_permanent(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(banner=["554 5.7.1 no service for you"]))
    r = await deliver(srv, make_policy(), message)
    assert r.error is not None and r.error.permanent and r.error.code == 554


async def test_data_rejected_after_dot(
    server: Server, make_policy: MakePolicy, message: Path
) -> None:
    srv = server(Script(data_reply=["554 5.7.1 spam"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.delivered == []
    assert r.outcome(RCPT) == ("permanent", 554, "5.7.1", "spam")


async def test_oversized_reply_line(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(raw_reply={"MAIL": b"250 " + b"x" * 5000 + b"\r\n"}))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.error is not None and r.error.temporary
    assert "longer than" in r.error.text


async def test_too_many_reply_lines(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(raw_reply={"MAIL": b"250-x\r\n" * 150 + b"250 ok\r\n"}))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.error is not None and "more than 100 lines" in r.error.text


async def test_garbage_reply(server: Server, make_policy: MakePolicy, message: Path) -> None:
    srv = server(Script(raw_reply={"MAIL": b"hello there\r\n"}))
    r = await deliver(srv, make_policy(TLSMode.SKIP), message)
    assert r.error is not None and r.error.temporary and "MAIL FROM" in r.error.text


# -- data -------------------------------------------------------------------------------


async def test_dot_stuffing_on_the_wire(
    server: Server, make_policy: MakePolicy, tmp_path: Path
) -> None:
    body = b"Subject: dots\n\n.\n..two\n.one\nmid.dle\n.\r\nno final newline."
    path = tmp_path / "dots.eml"
    path.write_bytes(body)
    srv = server(Script())
    r = await deliver(srv, make_policy(TLSMode.SKIP), path)
    assert r.delivered == [RCPT]
    assert srv.seen.data[0] == (
        b"Subject: dots\r\n\r\n..\r\n...two\r\n..one\r\nmid.dle\r\n..\r\nno final newline.\r\n.\r\n"
    )


async def test_large_message_streamed(
    server: Server, make_policy: MakePolicy, tmp_path: Path
) -> None:
    path = tmp_path / "big.eml"
    line = b".line of text that is long enough " * 3 + b"\r\n"
    path.write_bytes(b"Subject: big\r\n\r\n" + line * 20000)
    srv = server(Script(extensions=["SIZE 100000000"]))
    r = await deliver(srv, make_policy(TLSMode.SKIP), path)
    assert r.delivered == [RCPT]
    assert unstuff(srv.seen.data[0]) == path.read_bytes()


# -- connection problems and timeouts --------------------------------------------------------


async def test_connection_refused(make_policy: MakePolicy, message: Path) -> None:
    import socket

    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = await deliver_session(
        host=MX,
        ip="127.0.0.1",
        port=port,
        tls=make_policy(),
        ehlo_name="client.example",
        mail_from="a@sender.example",
        rcpts=[RCPT],
        message=message,
        requiretls=False,
        smtputf8=False,
        eightbit=False,
        connect_timeout=2,
        command_timeout=2,
    )
    assert not r.connected
    assert r.error is not None and r.error.temporary and r.error.enhanced == "4.4.1"
    assert r.outcome(RCPT)[0] == "temporary"


@pytest.mark.parametrize("verb", ["EHLO", "MAIL", "DATA"])
async def test_command_timeout_is_bounded(
    server: Server, make_policy: MakePolicy, message: Path, verb: str
) -> None:
    srv = server(Script(hang_on=verb))
    start = time.monotonic()
    r = await deliver(srv, make_policy(TLSMode.SKIP), message, command_timeout=0.5)
    elapsed = time.monotonic() - start
    assert r.error is not None and r.error.temporary
    assert "timeout" in r.error.text
    assert elapsed < 3


async def test_data_end_timeout(server: Server, make_policy: MakePolicy, message: Path) -> None:
    # No reply after the data: the client waits data_end_timeout, not forever.
    srv = server(Script(data_reply=[]))
    start = time.monotonic()
    r = await deliver(
        srv, make_policy(TLSMode.SKIP), message, command_timeout=5, data_end_timeout=0.5
    )
    assert r.error is not None and "end of data" in r.error.text
    assert time.monotonic() - start < 3


async def test_handshake_timeout(
    server: Server, pki: PKI, make_policy: MakePolicy, message: Path
) -> None:
    ctx, _ = pki.server_context()
    srv = server(Script(tls_context=ctx, hang_after_starttls=True))
    start = time.monotonic()
    r = await deliver(srv, make_policy(), message, command_timeout=0.5)
    assert time.monotonic() - start < 3
    assert r.tls_failure is not None
    assert r.tls_failure.result_type == ResultType.VALIDATION_FAILURE
    assert r.tls_failure.failure_reason_code == "io-timeout-during-handshake"
    assert r.error is not None and r.error.temporary


async def test_protocol_trace_logged(
    server: Server, make_policy: MakePolicy, message: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srv = server(Script())
    log = logging.getLogger("postel.smtpclient")
    with caplog.at_level(TRACE, logger="postel.smtpclient"):
        r = await deliver(srv, make_policy(TLSMode.SKIP), message, logger=log)
    assert r.delivered == [RCPT]
    lines = [rec.getMessage() for rec in caplog.records]
    assert "C: EHLO client.sender.example" in lines
    assert any(line.startswith("S: 250 2.0.0 queued") for line in lines)
    assert "C: ..." in lines  # message data redacted below tracedata
