"""Writing a new message file: header lines, then the received data (owner-only
mode, like every file of the data directory)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def temp_path(tmpdir: Path) -> Path:
    """A new name for a message written into *tmpdir* (the data dir's tmp/)
    before it is delivered; unique across processes."""
    return tmpdir / f"deliver-{os.getpid()}-{os.urandom(8).hex()}"


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def write_message(path: Path, headers: bytes, body: Path | bytes, *, sync: bool = True) -> int:
    """Write *headers* followed by *body* (a file or bytes) to the new file *path*,
    fsynced before returning unless *sync* is False (the caller fsyncs it before
    the store hard-links it); returns its size."""
    with open(path, "xb", opener=_owner_only) as out:
        try:
            out.write(headers)
            if isinstance(body, bytes):
                out.write(body)
            else:
                with open(body, "rb") as src:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            size = out.tell()
            if sync:
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return size


def header_prefix(headers: bytes, body: bytes, limit: int) -> bytes:
    """A prefix of the first *limit* bytes of the file write_message makes of
    *headers* and *body*, long enough for its header block: ``header_block``
    of it equals ``header_block`` of those *limit* bytes. Stops after the
    body's first empty line instead of copying up to *limit* bytes."""
    if len(headers) >= limit:
        return headers[:limit]
    # header_block ends at the first CRLF CRLF or LF LF: the prefix keeps the
    # body up to the end of its first one (and at least 3 bytes, for one that
    # starts in the headers' last bytes).
    crlf = body.find(b"\r\n\r\n")
    lf = body.find(b"\n\n", 0, crlf + 2 if crlf >= 0 else len(body))
    ends = [i + n for i, n in ((crlf, 4), (lf, 2)) if i >= 0]
    take = limit - len(headers)
    if ends:
        take = min(take, max(min(ends), 3))
    return headers + body[:take]
