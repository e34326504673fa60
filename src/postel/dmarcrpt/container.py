"""Unwrapping DMARC report input: gzip, zip and report e-mails (RFC 7489 §7.2.1.1).

All decompression is bounded, so zip and gzip bombs are rejected early.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator

from postel import reportfile
from postel.dmarcrpt.errors import DMARCInputError, DMARCLimitError
from postel.reportfile import GZIP_MAGIC, Attachment, is_gzip, looks_like_message

__all__ = [
    "GZIP_MAGIC",
    "ZIP_EMPTY_MAGIC",
    "ZIP_MAGIC",
    "Attachment",
    "gunzip_bounded",
    "gunzip_chunks",
    "is_gzip",
    "is_zip",
    "looks_like_message",
    "report_parts",
    "unzip_bounded",
    "unzip_chunks",
]

_ERRORS = reportfile.Errors(input=DMARCInputError, limit=DMARCLimitError)

ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY_MAGIC = b"PK\x05\x06"  # end of central directory record
_MAX_ZIP_MEMBERS = 16

_XML_TYPES = ("text/xml", "application/xml")
_ARCHIVE_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip-compressed",
    "application/x-zip",
)
_NAME_SUFFIXES = (".xml", ".xml.gz", ".gz", ".gzip", ".zip")


def is_zip(data: bytes) -> bool:
    """A zip archive: a local file header, or the end record alone (an empty archive)."""
    return data[:4] in (ZIP_MAGIC, ZIP_EMPTY_MAGIC)


def gunzip_bounded(data: bytes, max_size: int) -> bytes:
    """Decompress gzip data (all members), never producing more than max_size bytes."""
    return reportfile.gunzip_bounded(data, max_size, _ERRORS)


def _report_member(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The member holding the report: the one .xml file, else the only file."""
    infos = zf.infolist()
    if len(infos) > _MAX_ZIP_MEMBERS:
        raise DMARCLimitError(f"zip archive has {len(infos)} members, more than {_MAX_ZIP_MEMBERS}")
    if not infos:
        raise DMARCInputError("zip archive has no members")
    files: list[zipfile.ZipInfo] = []
    skipped: list[str] = []
    for n, info in enumerate(infos):
        # Checked before anything else: ZipInfo.is_dir() raises IndexError on an empty name.
        if not info.filename:
            skipped.append(f"member {n} has an empty name")
        elif info.filename.endswith("/"):
            skipped.append(f"member {n} ({info.filename!r}) is a directory")
        else:
            files.append(info)
    if not files:
        raise DMARCInputError(f"zip archive has no file member: {'; '.join(skipped[:5])}")
    xml = [i for i in files if i.filename.lower().endswith(".xml")]
    if len(xml) == 1:
        return xml[0]
    if not xml and len(files) == 1:
        return files[0]
    names = ", ".join(repr(i.filename) for i in files[:5])
    raise DMARCInputError(
        f"zip archive must hold exactly one XML member, found {len(xml)} ({names})"
    )


def unzip_chunks(data: bytes, max_size: int) -> Iterator[bytes]:
    """The one XML member of a zip archive, in chunks as they are decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = _report_member(zf)
            if info.file_size > max_size:
                raise DMARCLimitError(
                    f"zip member {info.filename!r} is {info.file_size} bytes, more than {max_size}"
                )
            total = 0
            with zf.open(info) as f:
                while True:
                    chunk = f.read(reportfile.CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_size:
                        raise DMARCLimitError(
                            f"zip member {info.filename!r} decompresses to more than "
                            f"{max_size} bytes"
                        )
                    yield chunk
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as e:
        raise DMARCInputError(f"invalid zip archive: {e}") from None
    except (NotImplementedError, RuntimeError, ValueError, OSError) as e:
        raise DMARCInputError(f"unsupported zip archive: {e}") from None


def unzip_bounded(data: bytes, max_size: int) -> bytes:
    """The one XML member of a zip archive, read in bounded chunks."""
    return b"".join(unzip_chunks(data, max_size))


def gunzip_chunks(data: bytes, max_size: int, trailing: list[int] | None = None) -> Iterator[bytes]:
    """Decompress gzip data chunk by chunk, never past max_size bytes in all;
    with *trailing* (lenient), bytes after the last member are counted there."""
    return reportfile.gunzip_chunks(data, max_size, _ERRORS, trailing)


def _rank(ctype: str, fname: str) -> int | None:
    if ctype in _XML_TYPES or ctype in _ARCHIVE_TYPES or fname.lower().endswith(_NAME_SUFFIXES):
        return 0
    return None


def report_parts(data: bytes, max_parts: int | None = None) -> list[Attachment]:
    """Parts of a message that may hold an aggregate report (RFC 7489 §7.2.1.1)."""
    return reportfile.report_parts(data, _rank, _ERRORS, max_parts)
