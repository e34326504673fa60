"""Server TLS contexts that follow their certificate files (hot reload).

A listener keeps one front context for its whole life; its SNI callback
(called for every ClientHello, with or without SNI) moves each new handshake
to the newest context built from the files, or to a TLS-ALPN-01 challenge
context while the CA validates a name (RFC 8737 §3). Connections already
established keep the context they started with, so a reload drops none.
Every process (the SMTP workers too) polls the files' inode, mtime and size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger("postel.tlsreload")

POLL = 2.0  # seconds between looks at the certificate files

Pairs = Sequence[tuple[Path, Path]]
Stamp = tuple[tuple[int, int, int] | None, ...]


class ChallengeSource(Protocol):
    """The pending ACME challenges (postel.acme.Challenges)."""

    def tls_alpn_context(self, server_name: str) -> ssl.SSLContext | None: ...

    def http_answer(self, token: str) -> str | None: ...


def _stamp(pairs: Pairs) -> Stamp:
    out: list[tuple[int, int, int] | None] = []
    for pair in pairs:
        for path in pair:
            try:
                st = path.stat()
            except OSError:
                out.append(None)
            else:
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ReloadingContext:
    """*front* is the context to give the listener; :meth:`check` reloads."""

    def __init__(
        self,
        pairs: Pairs,
        build: Callable[[Pairs], ssl.SSLContext],
        *,
        challenges: ChallengeSource | None = None,
        where: str = "",
    ) -> None:
        self.pairs = list(pairs)
        self._build = build
        self._challenges = challenges
        self.where = where
        self._seen = _stamp(self.pairs)
        self.front = build(self.pairs)  # errors here are start-up errors
        self.front.sni_callback = self._sni
        self.current = self.front
        self.reloads = 0

    def _sni(self, obj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: object) -> None:
        if self._challenges is not None and server_name:
            challenge = self._challenges.tls_alpn_context(server_name)
            if challenge is not None:
                obj.context = challenge
                return
        if self.current is not self.front:
            obj.context = self.current

    def check(self) -> bool:
        """Rebuild the context if a file changed; True when new handshakes now use it.
        A file that does not load (a half-replaced pair) keeps the old context."""
        now = _stamp(self.pairs)
        if now == self._seen:
            return False
        self._seen = now
        try:
            new = self._build(self.pairs)
        except Exception as exc:
            log.warning(
                "tls certificate not reloaded, the previous one stays in use",
                extra={"where": self.where, "err": str(exc)},
            )
            return False
        self.current = new
        self.reloads += 1
        log.info(
            "tls certificate reloaded",
            extra={"where": self.where, "files": ",".join(str(c) for c, _ in self.pairs)},
        )
        return True

    async def watch(self, interval: float = POLL) -> None:
        """Check every *interval* seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                self.check()
