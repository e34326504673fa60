"""Writing the final message file: new header lines, then the received data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_message(path: Path, headers: bytes, body: Path | bytes) -> None:
    """Write *headers* followed by *body* (a file or bytes) to the new file *path*,
    fsynced before returning (the store hard-links it)."""
    with open(path, "xb") as out:
        try:
            out.write(headers)
            if isinstance(body, bytes):
                out.write(body)
            else:
                with open(body, "rb") as src:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
