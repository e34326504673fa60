"""DKIM verification (RFC 6376 §6) with dkimpy over keys prefetched through postel.dns.

dkimpy's verify is synchronous and does its own DNS through ``dnsfunc``; we look
up every selector key first (async) and hand dkimpy a function answering from
that prefetch, then run the CPU-bound verification in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from postel.auth.domain import normalize_domain
from postel.auth.fromheader import header_section
from postel.auth.results import DKIMResult
from postel.dns import BogusError, DNSError, NotFound, Resolver, TemporaryError

log = logging.getLogger("postel.auth")

MAX_SIGNATURES = 5
MIN_RSA_BITS = 1024


@dataclass
class _Signature:
    index: int
    domain: str
    selector: str
    algorithm: str
    key_name: str = ""
    key: bytes | None = None
    error: DKIMResult | None = None


def may_be_signed(message: bytes) -> bool:
    """False when no header field can be a DKIM-Signature: nothing to verify.

    Every field dkimpy (or _header_fields) sees lies in the header section, so a
    section without the name in any case has none (cheaper than a (?i) regex
    over the whole message; BENCHMARKS.md).
    """
    return b"dkim-signature" in header_section(message).lower()


def _header_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value) of the header section, unfolded lines kept (RFC 5322 §2.2)."""
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    fields: list[tuple[bytes, bytes]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        elif b":" in line:
            name, _, value = line.partition(b":")
            fields.append((name.strip(), value))
    return fields


def signature_headers(message: bytes) -> tuple[list[bytes], str]:
    """Values of the DKIM-Signature fields, top to bottom, as dkimpy numbers them.

    The second item is a message format problem dkimpy will refuse, or "".
    """
    try:
        headers, _ = dkim.rfc822_parse(message)
    except dkim.DKIMException as exc:
        fields = _header_fields(message)
        return [v for n, v in fields if n.lower() == b"dkim-signature"], str(exc)
    return [bytes(v) for n, v in headers if n.lower() == b"dkim-signature"], ""


def _describe(value: bytes, index: int) -> _Signature:
    """Pre-parse one signature for its d=, s=, a= (RFC 6376 §3.5)."""
    try:
        tags = parse_tag_value(value)
    except (InvalidTagValueList, ValueError, IndexError) as exc:
        return _Signature(
            index,
            "",
            "",
            "",
            error=DKIMResult("permerror", reason=f"signature {index}: invalid tag list: {exc}"),
        )
    d = tags.get(b"d", b"").decode("utf-8", "replace").strip()
    s = tags.get(b"s", b"").decode("utf-8", "replace").strip()
    a = tags.get(b"a", b"").decode("ascii", "replace").strip()
    sig = _Signature(index, d, s, a)
    if not d or not s:
        sig.error = DKIMResult("permerror", d, s, a, "signature lacks d= or s=")
        return sig
    domain = normalize_domain(d)
    if domain is None or not re.fullmatch(r"[A-Za-z0-9_\-.]+", s):
        sig.error = DKIMResult("permerror", d, s, a, "invalid d= or s=")
        return sig
    sig.domain = domain
    sig.key_name = f"{s}._domainkey.{domain}"
    return sig


async def _fetch_key(resolver: Resolver, sig: _Signature) -> None:
    """Look up the key record (RFC 6376 §3.6.2.2); failures become the signature's result."""
    try:
        answer = await resolver.txt(sig.key_name)
    except NotFound:
        sig.error = DKIMResult(
            "permerror", sig.domain, sig.selector, sig.algorithm, f"no key at {sig.key_name}"
        )
        return
    except (TemporaryError, BogusError, DNSError) as exc:
        sig.error = DKIMResult(
            "temperror", sig.domain, sig.selector, sig.algorithm, f"key lookup: {exc}"
        )
        return
    except ValueError as exc:
        sig.error = DKIMResult("permerror", sig.domain, sig.selector, sig.algorithm, str(exc))
        return
    texts = answer.texts()
    if not texts:
        sig.error = DKIMResult(
            "permerror", sig.domain, sig.selector, sig.algorithm, f"no key at {sig.key_name}"
        )
        return
    # Several records: use the first (RFC 6376 §3.6.2.2 allows any).
    key = texts[0].encode("utf-8", "replace")
    try:
        tags = parse_tag_value(key)
    except (InvalidTagValueList, ValueError, IndexError) as exc:
        sig.error = DKIMResult(
            "permerror", sig.domain, sig.selector, sig.algorithm, f"invalid key record: {exc}"
        )
        return
    if not tags.get(b"p", b"").strip():
        # RFC 6376 §3.6.1: an empty p= means the key was revoked.
        sig.error = DKIMResult("permerror", sig.domain, sig.selector, sig.algorithm, "key revoked")
        return
    sig.key = key


def _verify_one(message: bytes, sig: _Signature) -> DKIMResult:
    """Run dkimpy for one signature whose key was prefetched."""
    key = sig.key

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        if text.rstrip(".").lower() == sig.key_name.lower():
            return key
        return None

    dlog = logging.getLogger("postel.auth.dkimpy")
    base = (sig.domain, sig.selector, sig.algorithm)
    try:
        d = dkim.DKIM(message, logger=dlog, minkey=MIN_RSA_BITS)
    except Exception as exc:
        return DKIMResult("permerror", *base, reason=f"message format: {exc}")
    try:
        key_info = dkim.evaluate_pk(sig.key_name, key)
    except dkim.DKIMException as exc:
        return DKIMResult("permerror", *base, reason=f"invalid key: {exc}")
    except Exception as exc:  # dkimpy may raise anything on odd key data
        return DKIMResult("permerror", *base, reason=f"invalid key: {exc!r}")
    try:
        prep = d.verify_headerprep(sig.index)
    except dkim.DKIMException as exc:
        return DKIMResult("permerror", *base, reason=str(exc))
    except Exception as exc:
        return DKIMResult("permerror", *base, reason=f"unparsable signature: {exc!r}")
    if not prep:
        return DKIMResult("permerror", *base, reason="signature not found")
    key_tag = key_info[2]
    if sig.algorithm.startswith("ed25519") != (key_tag == b"ed25519"):
        return DKIMResult("permerror", *base, reason="key type does not match a=")
    try:
        ok = d.verify(sig.index, dnsfunc=dnsfunc)
    except dkim.ValidationError as exc:
        return DKIMResult("fail", *base, reason=str(exc))
    except dkim.KeyFormatError as exc:
        return DKIMResult("permerror", *base, reason=str(exc))
    except dkim.DKIMException as exc:
        return DKIMResult("permerror", *base, reason=str(exc))
    except Exception as exc:
        return DKIMResult("permerror", *base, reason=f"verification error: {exc!r}")
    if ok:
        return DKIMResult("pass", *base)
    return DKIMResult("fail", *base, reason="signature did not verify")


def _verify_all(message: bytes, sigs: list[_Signature]) -> list[DKIMResult]:
    out: list[DKIMResult] = []
    for sig in sigs:
        if sig.error is not None:
            out.append(sig.error)
        else:
            out.append(_verify_one(message, sig))
    return out


async def verify_dkim(
    resolver: Resolver, message: bytes, *, timeout: float = 20.0
) -> list[DKIMResult]:
    """Results for the first MAX_SIGNATURES DKIM-Signature fields; [] if unsigned."""
    if not may_be_signed(message):
        # Nothing to parse, look up or hand to a thread (most incoming mail).
        return []
    values, problem = signature_headers(message)
    if len(values) > MAX_SIGNATURES:
        log.info(
            "ignoring DKIM signatures beyond the limit",
            extra={"signatures": len(values), "limit": MAX_SIGNATURES},
        )
    sigs = [_describe(v, i) for i, v in enumerate(values[:MAX_SIGNATURES])]
    if problem:
        for s in sigs:
            if s.error is None:
                s.error = DKIMResult(
                    "permerror", s.domain, s.selector, s.algorithm, f"message format: {problem}"
                )
    pending = [s for s in sigs if s.error is None]
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(_fetch_key(resolver, s) for s in pending))
    except TimeoutError:
        for s in pending:
            if s.key is None and s.error is None:
                s.error = DKIMResult(
                    "temperror",
                    s.domain,
                    s.selector,
                    s.algorithm,
                    f"key lookup took longer than {timeout}s",
                )
    results = await asyncio.to_thread(_verify_all, message, sigs)
    for r in results:
        log.debug(
            "dkim result",
            extra={
                "dkim_domain": r.domain,
                "selector": r.selector,
                "result": r.result,
                "reason": r.reason,
            },
        )
    return results
