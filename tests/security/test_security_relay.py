"""Standard 1, no open relay: the incoming port (25) refuses every recipient that is
not a configured address of a configured domain or the host name, whatever its
spelling; submission needs AUTH, and AUTH needs TLS (RFC 5321 §3.6.2, RFC 6409 §4.3)."""

from __future__ import annotations

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_env import (
    FORWARD_TARGET,
    IDN_DOMAIN,
    PASSWORD,
    Env,
    make_config,
    run,
)

from postel.config import Config
from postel.smtp.errors import ParameterError
from postel.smtp.params import parse_rcpt
from postel.store.routing import RecipientRefused, resolve

MSG = b"From: someone@sender.test\r\nTo: x@example.org\r\nSubject: t\r\n\r\nbody\r\n"

# Recipient paths that must never be accepted from an unauthenticated client.
REFUSED = [
    "<alice@evil.example>",
    "<ALICE@EVIL.EXAMPLE>",
    "<alice@example.org@evil.example>",  # two '@': not a valid mailbox
    "<alice@evil.example@example.org>",
    "<@example.org:alice@evil.example>",  # source route through us to elsewhere
    "<@example.org,@mail.example.org:alice@evil.example>",
    "<alice%evil.example@example.org>",  # the "percent hack"
    "<alice!evil.example@example.org>",  # bang path
    "<evil.example!alice@example.org>",
    '<"alice@evil.example"@example.org>',  # quoted localpart with an '@'
    '<"alice"@evil.example>',
    "<alice@example.org.>",  # trailing dot
    "<alice@evil.example.>",
    "<alice@example.org.evil.example>",
    "<alice@sub.example.org>",
    "<alice@example.org\\@evil.example>",
    "<alice@[127.0.0.1]>",  # address literals
    "<alice@[IPv6:::1]>",
    "<postmaster@[127.0.0.1]>",
    "<alice@mail.example.org>",  # host name: only postmaster and configured addresses
    "<postmaster@evil.example>",
    "<alice+tag@evil.example>",
    "<nosuchuser@example.org>",
    "<alice@xn--bcher-kva.evil>",  # IDN, other TLD
    "<alice@evil.xn--bcher-kva.example>",
    "<alice @example.org>",
    "<alice@exa mple.org>",
    "<alice@example.org >",
    "<alice@example .org>",
    "alice@evil.example",  # no angle brackets
    "<alice@evil.example",
]

# And these are local: accepted, stored locally, never forwarded.
ACCEPTED = [
    "<alice@example.org>",
    "<ALICE@EXAMPLE.ORG>",
    "<Alice@Example.Org>",
    "<alice+tag@example.org>",
    '<"alice"@example.org>',
    "<@evil.example:alice@example.org>",  # source route: ignored (RFC 5321 §4.1.1.3)
    "<@evil.example,@other.example:alice@example.org>",
    f"<alice@{IDN_DOMAIN}>",
    f"<alice@{IDN_DOMAIN.upper()}>",
    "<postmaster@example.org>",
    "<postmaster@mail.example.org>",
    "<Postmaster>",
]


def _rcpt_codes(env: Env, paths: list[str], mail_params: str = "") -> list[tuple[int, bytes]]:
    """Each path in its own transaction (so the recipient limit is never hit)."""
    out = []
    with env.smtp() as c:
        c.command_encoding = "utf-8"
        c.ehlo()
        for path in paths:
            code, _ = c.docmd("MAIL", f"FROM:<someone@sender.test>{mail_params}")
            assert code == 250
            out.append(c.docmd("RCPT", f"TO:{path}"))
            assert c.docmd("RSET")[0] == 250
            # The server closes after 10 errors: reconnect in time.
            if sum(1 for code, _ in out if code >= 500) % 8 == 7:
                c.quit()
                c.connect("127.0.0.1", env.ports["smtp"])
                c.ehlo()
    return out


@pytest.mark.parametrize("chunk", range(0, len(REFUSED), 7))
async def test_outside_recipients_are_refused(smtp_env: Env, chunk: int) -> None:
    paths = REFUSED[chunk : chunk + 7]
    results = await run(lambda: _rcpt_codes(smtp_env, paths))
    for path, (code, text) in zip(paths, results, strict=True):
        assert code >= 500, (path, code, text)
    assert smtp_env.submitter.calls == []


async def test_idn_u_label_recipients(smtp_env: Env) -> None:
    """SMTPUTF8 U-labels map to the configured A-label; other IDNs are refused."""
    local = ["<alice@bücher.example>", "<alice@BÜCHER.example>", "<alice@ｅｘａｍｐｌｅ.org>"]
    outside = ["<alice@bücher.evil>", "<alice@bücher.example.evil>", "<alice@exämple.org>"]
    results = await run(lambda: _rcpt_codes(smtp_env, local + outside, " SMTPUTF8"))
    for path, (code, text) in zip(local + outside, results, strict=True):
        if path in local:
            assert code == 250, (path, code, text)
        else:
            assert code >= 500, (path, code, text)
    # Without SMTPUTF8 a U-label is refused outright (RFC 6531 §3.5).
    ((code, _),) = await run(lambda: _rcpt_codes(smtp_env, ["<alice@bücher.example>"]))
    assert code == 553


async def test_local_recipients_stay_local(smtp_env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        out = []
        with smtp_env.smtp() as c:
            c.ehlo()
            for path in ACCEPTED:
                assert c.docmd("MAIL", "FROM:<someone@sender.test>")[0] == 250
                out.append(c.docmd("RCPT", f"TO:{path}"))
                out.append(c.data(MSG))
        return out

    results = await run(go)
    for i, path in enumerate(ACCEPTED):
        rcpt, data = results[2 * i], results[2 * i + 1]
        assert rcpt[0] == 250, (path, rcpt)
        assert data[0] == 250, (path, data)
    # Everything went into alice's own mailboxes, nothing was handed on.
    assert smtp_env.submitter.calls == []
    n = len(smtp_env.delivered("alice")) + len(smtp_env.delivered("alice", "Postmaster"))
    assert n == len(ACCEPTED)


async def test_alias_forwards_only_to_its_configured_targets(smtp_env: Env) -> None:
    """An alias may forward off-site for anyone (that is what aliases are for), but
    only to the addresses configured for it, whatever the RCPT spelling."""

    def go() -> list[tuple[int, bytes]]:
        with smtp_env.smtp() as c:
            c.ehlo()
            assert c.docmd("MAIL", "FROM:<someone@sender.test>")[0] == 250
            r1 = c.docmd("RCPT", "TO:<outside+evil.example@example.org>")
            r2 = c.docmd("RCPT", "TO:<@evil.example:OUTSIDE@example.org>")
            return [r1, r2, c.data(MSG)]

    r1, r2, data = await run(go)
    assert r1[0] == 250 and r2[0] == 250 and data[0] == 250, (r1, r2, data)
    assert [c.rcpts for c in smtp_env.submitter.calls] == [[FORWARD_TARGET]]
    assert smtp_env.submitter.calls[0].account == ""  # a forward, not a submission


async def test_no_data_without_an_accepted_recipient(smtp_env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with smtp_env.smtp() as c:
            c.ehlo()
            c.docmd("MAIL", "FROM:<someone@sender.test>")
            assert c.docmd("RCPT", "TO:<victim@evil.example>")[0] == 550
            return c.docmd("DATA")

    code, _ = await run(go)
    assert code == 554
    assert smtp_env.submitter.calls == []


async def test_auth_is_not_offered_or_accepted_on_port_25(smtp_env: Env) -> None:
    def go() -> tuple[bool, int, int]:
        with smtp_env.smtp() as c:
            c.starttls(context=smtp_env.client_context())
            c.ehlo()
            offered = c.has_extn("auth")
            code, _ = c.docmd("AUTH", "PLAIN " + _plain("alice", PASSWORD))
            c.docmd("MAIL", "FROM:<alice@example.org>")
            rcpt, _ = c.docmd("RCPT", "TO:<victim@evil.example>")
            return offered, code, rcpt

    offered, auth, rcpt = await run(go)
    assert not offered and auth == 503 and rcpt == 550
    assert smtp_env.submitter.calls == []


def _plain(user: str, password: str) -> str:
    import base64

    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def test_submission_needs_auth_and_auth_needs_tls(smtp_env: Env) -> None:
    def plaintext() -> tuple[bool, int, int]:
        with smtp_env.submission() as c:
            c.ehlo()
            offered = c.has_extn("auth")
            auth, _ = c.docmd("AUTH", "PLAIN " + _plain("alice", PASSWORD))
            mail, _ = c.docmd("MAIL", "FROM:<alice@example.org>")
            return offered, auth, mail

    offered, auth, mail = await run(plaintext)
    assert not offered  # RFC 4954 §4 / RFC 8314: never offer AUTH in the clear
    assert auth == 538  # 5.7.11 encryption required
    assert mail == 530

    def starttls_no_auth() -> tuple[int, int]:
        with smtp_env.submission() as c:
            c.starttls(context=smtp_env.client_context())
            c.ehlo()
            mail, _ = c.docmd("MAIL", "FROM:<alice@example.org>")
            rcpt, _ = c.docmd("RCPT", "TO:<victim@evil.example>")
            return mail, rcpt

    mail, rcpt = await run(starttls_no_auth)
    assert mail == 530 and rcpt == 503

    def implicit_tls_no_auth() -> int:
        with smtp_env.submissions() as c:
            c.ehlo()
            return c.docmd("MAIL", "FROM:<alice@example.org>")[0]

    assert await run(implicit_tls_no_auth) == 530

    def wrong_password() -> tuple[int, int]:
        with smtp_env.submissions() as c:
            c.ehlo()
            auth, _ = c.docmd("AUTH", "PLAIN " + _plain("alice", "wrong"))
            mail, _ = c.docmd("MAIL", "FROM:<alice@example.org>")
            return auth, mail

    assert await run(wrong_password) == (535, 530)
    assert smtp_env.submitter.calls == []

    def authenticated() -> tuple[int, int, int]:
        with smtp_env.submissions() as c:
            c.login("alice@example.org", PASSWORD)
            mail, _ = c.docmd("MAIL", "FROM:<alice@example.org>")
            rcpt, _ = c.docmd("RCPT", "TO:<friend@elsewhere.example>")
            data = c.data(MSG.replace(b"someone@sender.test", b"alice@example.org"))[0]
            return mail, rcpt, data

    assert await run(authenticated) == (250, 250, 250)
    assert [(c.account, c.rcpts) for c in smtp_env.submitter.calls] == [
        ("alice", ["friend@elsewhere.example"])
    ]


async def test_starttls_forgets_pre_tls_auth_state(smtp_env: Env) -> None:
    """A session authenticated... cannot exist before TLS; and pipelined commands
    after STARTTLS are refused (RFC 3207 §4.2, CVE-2011-0411)."""
    import socket

    def go() -> bytes:
        with socket.create_connection(("127.0.0.1", smtp_env.ports["submission"]), 10) as s:
            s.recv(1000)
            s.sendall(b"EHLO x\r\n")
            s.recv(1000)
            s.sendall(b"STARTTLS\r\nAUTH PLAIN " + _plain("alice", PASSWORD).encode() + b"\r\n")
            out = b""
            while True:
                chunk = s.recv(1000)
                if not chunk:
                    return out
                out += chunk

    out = await run(go)
    assert out.startswith(b"554 "), out


# -- the pure decision, for every address the parser accepts ------------------------

_local_chars = st.text(
    alphabet=st.sampled_from([*'aliceAL+%!.=_-"@\\ bobü']), min_size=1, max_size=20
)
_domains = st.sampled_from(
    [
        "example.org",
        "EXAMPLE.ORG",
        "example.org.",
        "mail.example.org",
        "evil.example",
        "example.org.evil.example",
        "sub.example.org",
        "[127.0.0.1]",
        "[IPv6:::1]",
        IDN_DOMAIN,
        "bücher.example",
        "bücher.evil",
        "xn--bcher-kva.evil",
        "ｅｘａｍｐｌｅ.org",
        "example.org@evil.example",
        "evil.example@example.org",
        "",
    ]
)
_routes = st.sampled_from(["", "@evil.example:", "@example.org:", "@a.example,@b.example:"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=_routes, local=_local_chars, domain=_domains, smtputf8=st.booleans())
def test_resolve_accepts_only_local_destinations(
    tmp_path_factory: pytest.TempPathFactory, route: str, local: str, domain: str, smtputf8: bool
) -> None:
    cfg = _cfg(tmp_path_factory)
    for path in (f"<{route}{local}@{domain}>", f'<{route}"{local}"@{domain}>'):
        try:
            cmd = parse_rcpt(f"TO:{path}", smtputf8=smtputf8)
        except ParameterError:
            continue
        try:
            dest = resolve(cfg, cmd.recipient, postmaster=cmd.postmaster)
        except RecipientRefused:
            continue
        # Accepted: a configured domain or the host name, and forwards only to the
        # configured alias target.
        assert cmd.recipient.domain in ("example.org", IDN_DOMAIN, "mail.example.org"), path
        assert dest.deliveries or dest.forward, path
        assert set(dest.forward) <= {FORWARD_TARGET}, path


_CFG: dict[str, Config] = {}


def _cfg(factory: pytest.TempPathFactory) -> Config:
    if "cfg" not in _CFG:
        _CFG["cfg"] = make_config(factory.mktemp("relaycfg"), trustme.CA())
    return _CFG["cfg"]
