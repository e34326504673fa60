"""The `_dmarc` TXT record (RFC 7489 §6.3, §6.4; t= from RFC 9989)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from postel.auth.errors import DMARCSyntaxError

Policy = Literal["none", "quarantine", "reject"]
_POLICIES = ("none", "quarantine", "reject")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class DMARCRecord:
    """A parsed DMARC record; ``policy_missing`` when p= was absent/invalid but rua valid."""

    policy: Policy
    subdomain_policy: Policy | None = None
    pct: int = 100
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    testing: bool = False
    policy_missing: bool = False
    extensions: tuple[tuple[str, str], ...] = field(default=())


def is_dmarc_record(txt: str) -> bool:
    """RFC 7489 §6.6.3 step 2: records not starting with "v=DMARC1" are discarded."""
    return re.match(r"v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)", txt) is not None


def select_record(texts: Iterable[str]) -> str | None:
    """The single DMARC record among TXT values; None for no or several records."""
    found = [t for t in texts if is_dmarc_record(t)]
    return found[0] if len(found) == 1 else None


def _uris(value: str, tag: str) -> tuple[str, ...]:
    """dmarc-uri *(*WSP "," *WSP dmarc-uri) with optional !size (RFC 7489 §6.4)."""
    out: list[str] = []
    for raw in value.split(","):
        uri = raw.strip()
        if not uri:
            continue
        base = re.sub(r"![0-9]+[kmgt]?$", "", uri, flags=re.IGNORECASE)
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", base):
            raise DMARCSyntaxError(f"invalid URI {uri!r}", tag=tag)
        out.append(base)
    return tuple(out)


def parse_record(txt: str) -> DMARCRecord:
    """Parse a DMARC record; raises DMARCSyntaxError when it is unusable.

    Unknown tags are kept, malformed ones ignored; a record without a valid p= but with a valid rua=
    is treated as p=none (RFC 7489 §6.6.3 step 6).
    """
    if not is_dmarc_record(txt):
        raise DMARCSyntaxError("record does not start with v=DMARC1", tag="v")
    tags: dict[str, str] = {}
    ext: list[tuple[str, str]] = []
    parts = [p.strip(" \t") for p in txt.split(";")]
    for part in parts[1:]:
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip(" \t").lower()
        value = value.strip(" \t")
        if not eq or not _TAG.match(name):
            continue  # RFC 9989: unknown (here: unparsable) tags are ignored
        if name in tags:
            continue  # first occurrence wins
        tags[name] = value
        if name not in (
            "p",
            "sp",
            "pct",
            "adkim",
            "aspf",
            "rua",
            "ruf",
            "t",
            "fo",
            "rf",
            "ri",
            "np",
            "psd",
        ):
            ext.append((name, value))
    rua: tuple[str, ...] = ()
    rua_error: DMARCSyntaxError | None = None
    if "rua" in tags:
        try:
            rua = _uris(tags["rua"], "rua")
        except DMARCSyntaxError as exc:
            rua_error = exc
    policy_missing = False
    p = tags.get("p", "").lower()
    if p not in _POLICIES:
        if rua and rua_error is None:
            policy_missing = True
            p = "none"
        elif "p" in tags:
            raise DMARCSyntaxError(f"invalid policy {tags['p']!r}", tag="p")
        else:
            raise DMARCSyntaxError("required p= tag missing", tag="p")
    sp: str | None = tags.get("sp", "").lower() or None
    if sp is not None and sp not in _POLICIES:
        sp = None  # RFC 7489 §6.3: invalid sp is ignored, p applies
    pct = 100
    if "pct" in tags:
        if not re.fullmatch(r"[0-9]{1,3}", tags["pct"]) or int(tags["pct"]) > 100:
            raise DMARCSyntaxError(f"invalid pct {tags['pct']!r}: 0-100", tag="pct")
        pct = int(tags["pct"])
    adkim = tags.get("adkim", "r").lower()
    aspf = tags.get("aspf", "r").lower()
    if adkim not in ("r", "s"):
        raise DMARCSyntaxError(f"invalid adkim {tags['adkim']!r}: r or s", tag="adkim")
    if aspf not in ("r", "s"):
        raise DMARCSyntaxError(f"invalid aspf {tags['aspf']!r}: r or s", tag="aspf")
    ruf: tuple[str, ...] = ()
    if "ruf" in tags:
        try:
            ruf = _uris(tags["ruf"], "ruf")
        except DMARCSyntaxError:
            ruf = ()
    testing = tags.get("t", "n").lower() == "y"
    return DMARCRecord(
        policy=p,  # type: ignore[arg-type]
        subdomain_policy=sp,  # type: ignore[arg-type]
        pct=pct,
        adkim=adkim,  # type: ignore[arg-type]
        aspf=aspf,  # type: ignore[arg-type]
        rua=rua,
        ruf=ruf,
        testing=testing,
        policy_missing=policy_missing,
        extensions=tuple(ext),
    )
