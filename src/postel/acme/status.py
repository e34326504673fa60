"""What the ACME renewal loop last did, and the certificates as an operator sees them.

The loop (postel.acme.manager) is the one owner of data/acme/status.json: it
writes it after every look. `postel acme status` and the admin's certificates
page read it, so they show the running server's plan from any process.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from postel.acme.schedule import cert_names, is_self_signed
from postel.acme.storage import KINDS, CertStore
from postel.fsutil import write_atomic

STATUS_FILE = "status.json"
# A status older than this is shown as stale: the loop looks at least hourly.
STALE_AFTER = dt.timedelta(hours=2)


def status_file(store: CertStore) -> Path:
    return store.acme_dir / STATUS_FILE


@dataclass(frozen=True)
class LoopStatus:
    """One look of the renewal loop."""

    updated: dt.datetime
    directory: str  # the CA's directory URL
    renew_at: dict[str, dt.datetime] = field(default_factory=dict)  # by key kind
    next_look: dt.datetime | None = None
    failures: int = 0
    last_error: str | None = None
    last_issued: dt.datetime | None = None
    # Names not ordered because their DNS does not point at the mail host
    # (postel.acme.published).
    left_out: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        def iso(t: dt.datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return json.dumps(
            {
                "updated": iso(self.updated),
                "directory": self.directory,
                "renew_at": {k: iso(v) for k, v in sorted(self.renew_at.items())},
                "next_look": iso(self.next_look),
                "failures": self.failures,
                "last_error": self.last_error,
                "last_issued": iso(self.last_issued),
                "left_out": self.left_out,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> LoopStatus:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")

            def when(value: object) -> dt.datetime | None:
                if value is None:
                    return None
                if not isinstance(value, str):
                    raise ValueError(f"time {value!r} is not a string")
                return dt.datetime.fromisoformat(value)

            updated = when(raw.get("updated"))
            if updated is None:
                raise ValueError("no 'updated' time")
            renew = raw.get("renew_at") or {}
            if not isinstance(renew, dict):
                raise ValueError("'renew_at' is not an object")
            renew_at = {str(k): t for k, v in renew.items() if (t := when(v)) is not None}
            error = raw.get("last_error")
            left_out = raw.get("left_out") or []
            if not isinstance(left_out, list):
                raise ValueError("'left_out' is not a list")
            return cls(
                updated=updated,
                directory=str(raw.get("directory", "")),
                renew_at=renew_at,
                next_look=when(raw.get("next_look")),
                failures=int(raw.get("failures", 0)),
                last_error=None if error is None else str(error),
                last_issued=when(raw.get("last_issued")),
                left_out=[str(n) for n in left_out],
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None


def write_status(store: CertStore, status: LoopStatus) -> None:
    store.acme_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(status_file(store), status.to_json().encode("utf-8"), tmpdir=store.acme_dir)


def read_status(store: CertStore) -> tuple[LoopStatus | None, str | None]:
    """The loop's last status, or None with a reason (no file yet, unreadable)."""
    path = status_file(store)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    try:
        return LoopStatus.from_json(text, str(path)), None
    except ValueError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class KeyView:
    """One host key and its certificate, for people."""

    kind: str
    tlsa: str | None  # TLSA 3 1 1 data of the key in use
    next_tlsa: str | None  # of a key waiting for its rollover (RFC 7671 §8.1)
    issuer: str | None  # "self-signed", the CA's name, or None without a certificate
    not_after: dt.datetime | None
    names: list[str]
    renew_at: dt.datetime | None
    problem: str | None  # unreadable certificate


@dataclass(frozen=True)
class View:
    keys: list[KeyView]
    loop: LoopStatus | None
    loop_problem: str | None
    stale: bool  # the loop has not written for STALE_AFTER (no server runs?)


def view(store: CertStore, now: dt.datetime) -> View:
    """The host keys, their certificates and the loop's plan, read from the files."""
    digests: dict[tuple[str, bool], str] = {
        (kind, is_next): digest for kind, digest, is_next in store.tlsa_digests()
    }
    loop, loop_problem = read_status(store)
    keys: list[KeyView] = []
    for kind in KINDS:
        issuer: str | None = None
        not_after: dt.datetime | None = None
        names: list[str] = []
        problem: str | None = None
        path = store.cert_file(kind)
        if path.exists():
            try:
                leaf = store.chain(kind)[0]
            except (OSError, ValueError, IndexError) as exc:
                problem = f"{path}: cannot be read: {exc}"
            else:
                issuer = "self-signed" if is_self_signed(leaf) else leaf.issuer.rfc4514_string()
                not_after = leaf.not_valid_after_utc
                names = sorted(cert_names(leaf))
        keys.append(
            KeyView(
                kind=kind,
                tlsa=digests.get((kind, False)),
                next_tlsa=digests.get((kind, True)),
                issuer=issuer,
                not_after=not_after,
                names=names,
                renew_at=loop.renew_at.get(kind) if loop is not None else None,
                problem=problem,
            )
        )
    stale = loop is not None and now - loop.updated > STALE_AFTER
    return View(keys=keys, loop=loop, loop_problem=loop_problem, stale=stale)


def describe(v: View) -> list[str]:
    """The view as lines of text (`postel acme status`)."""
    lines: list[str] = []
    for k in v.keys:
        if k.tlsa is not None:
            lines.append(f"{k.kind}: TLSA 3 1 1 {k.tlsa}")
        if k.next_tlsa is not None:
            lines.append(f"{k.kind} (next): TLSA 3 1 1 {k.next_tlsa}; switched to once published")
        if k.problem is not None:
            lines.append(f"{k.kind}: {k.problem}")
        elif k.issuer is None:
            lines.append(f"{k.kind}: no certificate")
        else:
            assert k.not_after is not None
            lines.append(
                f"{k.kind}: {k.issuer}, valid until {k.not_after:%Y-%m-%d %H:%M} UTC, "
                f"names {', '.join(k.names)}"
            )
        if k.renew_at is not None:
            lines.append(f"{k.kind}: renewal planned from {k.renew_at:%Y-%m-%d %H:%M} UTC")
    if v.loop_problem is not None:
        lines.append(f"renewal loop: {v.loop_problem}")
    elif v.loop is None:
        lines.append("renewal loop: no status yet (the server has not looked since it started)")
    else:
        lp = v.loop
        state = "stale, is the server running?" if v.stale else "running"
        lines.append(f"renewal loop: {state}; last look {lp.updated:%Y-%m-%d %H:%M:%S} UTC")
        lines.append(f"CA: {lp.directory}")
        if lp.last_issued is not None:
            lines.append(f"last issued: {lp.last_issued:%Y-%m-%d %H:%M:%S} UTC")
        if lp.last_error is not None:
            lines.append(f"last order failed ({lp.failures} in a row): {lp.last_error}")
        if lp.left_out:
            lines.append(
                f"not in the certificate until their DNS points at this host: "
                f"{', '.join(lp.left_out)} (the DNS records page lists the CNAMEs)"
            )
        if lp.next_look is not None:
            lines.append(f"next look: {lp.next_look:%Y-%m-%d %H:%M:%S} UTC")
    return lines
