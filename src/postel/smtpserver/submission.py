"""Message submission (RFC 6409): sender checks, completion, DKIM signing, hand-off.

The envelope sender and every From: address must be addresses of the
authenticated account (RFC 6409 §6.1 "MAY check"; we always do). Missing
Date and Message-ID fields are added (RFC 6409 §8.3, §8.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from postel.config import Config
from postel.errors import SMTPReplyError
from postel.smtp.address import Address, parse_address
from postel.smtp.errors import AddressError
from postel.smtp.reply import Reply
from postel.smtpserver.context import ServerContext
from postel.smtpserver.incoming import trace_headers, without_own_results
from postel.smtpserver.transaction import SessionInfo, Transaction
from postel.store.msgfile import write_message

log = logging.getLogger("postel.smtpserver")

HEADER_LIMIT = 256 * 1024


def account_addresses(cfg: Config, account: str) -> set[str]:
    acc = cfg.domains.accounts.get(account)
    return {a.lower() for a in acc.addresses} if acc else set()


def sender_allowed(cfg: Config, account: str, sender: Address) -> bool:
    return sender.key() in account_addresses(cfg, account)


def header_block(message: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = message.find(sep)
        if i >= 0:
            return message[: i + len(sep) // 2]
    return message


def from_addresses(message: bytes) -> list[str]:
    """Every address of every From: field; raises ValueError if one is unparsable."""
    from postel.auth.fromheader import header_values

    out: list[str] = []
    for value in header_values(message, "From"):
        for _name, addr in email.utils.getaddresses([value]):
            if not addr:
                raise ValueError(f"no address in From: {value!r}")
            try:
                out.append(parse_address(addr, smtputf8=True).key())
            except AddressError as exc:
                raise ValueError(f"bad From address {addr!r}: {exc.reason}") from exc
    return out


def missing_fields(message: bytes, hostname: str) -> bytes:
    """Date and Message-ID fields to add when the message lacks them."""
    from postel.auth.fromheader import header_values

    out = b""
    if not header_values(message, "Date"):
        out += f"Date: {email.utils.format_datetime(datetime.now(UTC))}\r\n".encode()
    if not header_values(message, "Message-ID"):
        out += f"Message-ID: <{os.urandom(12).hex()}@{hostname}>\r\n".encode()
    return out


def check_from(cfg: Config, account: str, message: bytes) -> Reply | None:
    """A refusal when a From: address is not the account's (or From is missing)."""
    try:
        addrs = from_addresses(header_block(message))
    except ValueError as exc:
        return Reply(550, "5.7.1", f"invalid From header: {exc}")
    if not addrs:
        return Reply(550, "5.7.1", "message has no From header")
    allowed = account_addresses(cfg, account)
    for addr in addrs:
        if addr not in allowed:
            return Reply(550, "5.7.1", f"From address {addr} does not belong to your account")
    return None


def dkim_sign(cfg: Config, message: bytes) -> bytes:
    """The message with DKIM-Signature fields for the From domain's selectors."""
    from postel.auth import DKIMSigner, sign_message
    from postel.auth.fromheader import author_domain

    domain = author_domain(message)
    if domain is None:
        return message
    signer = DKIMSigner.from_config(cfg, domain)
    if signer is None:
        return message
    return sign_message(signer, message)


async def submit(
    ctx: ServerContext,
    info: SessionInfo,
    tx: Transaction,
    spool: Path,
    account: str,
    data: bytes | None = None,
) -> Reply:
    """Submit the message (*data*, or the file *spool* when it is None)."""
    cfg = ctx.cfg
    message = data if data is not None else await asyncio.to_thread(spool.read_bytes)
    refusal = check_from(cfg, account, message)
    if refusal is not None:
        log.info("submission refused", extra={"reason": refusal.text, "account": account})
        return refusal
    message = without_own_results(ctx, message) or message  # RFC 8601 §5, also for an MSA
    message = missing_fields(message, cfg.static.hostname) + message
    try:
        message = await asyncio.to_thread(dkim_sign, cfg, message)
    except Exception as exc:
        log.error("dkim signing failed", extra={"err": repr(exc), "account": account})
        return Reply(451, "4.3.0", f"cannot sign message (DKIM), id {info.cid}")
    final = spool.with_name(spool.name + "-final")
    try:
        await asyncio.to_thread(write_message, final, trace_headers(ctx, info, tx, None), message)
        del message
        sender = str(tx.sender) if tx.sender is not None else ""
        rcpts = [str(r) for r in tx.recipients]
        try:
            await ctx.submitter(account, sender, rcpts, final, tx.params.requiretls)
        except SMTPReplyError as exc:
            log.info("submission refused", extra={"reason": exc.text, "account": account})
            return Reply(exc.code, exc.enhanced, exc.text)
        except Exception as exc:
            log.error("submission failed", extra={"err": repr(exc), "account": account})
            return Reply(451, "4.3.0", f"temporary failure, id {info.cid}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
    log.info("message submitted", extra={"account": account, "rcpts": len(tx.recipients)})
    return Reply(250, "2.0.0", f"accepted, id {info.cid}")
