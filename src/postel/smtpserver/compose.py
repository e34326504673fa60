"""Writing the final message file: new header lines, then the received data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_message(path: Path, headers: bytes, body: Path | bytes) -> int:
    """Write *headers* followed by *body* (a file or bytes) to the new file *path*,
    fsynced before returning (the store hard-links it); returns its size."""
    with open(path, "xb") as out:
        try:
            out.write(headers)
            if isinstance(body, bytes):
                out.write(body)
            else:
                with open(body, "rb") as src:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            size = out.tell()
            os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return size


def header_prefix(headers: bytes, body: bytes, limit: int) -> bytes:
    """The first *limit* bytes of the file write_message makes of *headers* and
    *body* (what a reader of its header block would read), without writing it."""
    if len(headers) >= limit:
        return headers[:limit]
    return headers + body[: limit - len(headers)]
