"""The `_mta-sts` TXT record (RFC 8461 §3.1): parsing and selection."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from postel.mtasts.errors import MultipleRecords, NoRecord, RecordSyntaxError

VERSION = "STSv1"
_VERSION_TAG = "v=" + VERSION

# RFC 8461 §3.1 ABNF pieces.
_DELIM = re.compile(r"[ \t]*;[ \t]*")
# Extension names, also of policy fields (RFC 8461 §3.2 sts-policy-ext-name).
EXT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}"
_NAME = re.compile(EXT_NAME)
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.\-]")
_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")
# A record is an MTA-STS record when it begins with "v=STSv1" and a delimiter.
_CANDIDATE = re.compile(r"v=STSv1[ \t]*;")


@dataclass(frozen=True)
class Record:
    """A parsed `_mta-sts` TXT record: the policy id and unknown extension fields."""

    id: str
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def version(self) -> str:
        return VERSION

    def text(self) -> str:
        """The record as TXT value, e.g. ``v=STSv1; id=20160831085700Z``."""
        fields = [_VERSION_TAG, f"id={self.id}"]
        fields.extend(f"{k}={v}" for k, v in self.extensions)
        return "; ".join(fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "id": self.id,
            "extensions": [[k, v] for k, v in self.extensions],
        }


def is_mtasts_record(txt: str) -> bool:
    """Whether a TXT value is an MTA-STS record at all (starts with ``v=STSv1;``)."""
    return _CANDIDATE.match(txt) is not None


def parse_record(txt: str) -> Record:
    """Parse one TXT record value strictly per RFC 8461 §3.1.

    Unknown fields are kept as extensions; of repeated ``id`` fields the first
    is used (RFC 8461 §3.2 on repeated fields). Raises RecordSyntaxError.
    """
    if not txt.startswith(_VERSION_TAG):
        raise RecordSyntaxError(f"record must start with {_VERSION_TAG!r}", offset=0, field="v")
    pos = len(_VERSION_TAG)
    record_id: str | None = None
    extensions: list[tuple[str, str]] = []
    while pos < len(txt):
        delim = _DELIM.match(txt, pos)
        if delim is None:
            raise RecordSyntaxError(f"expected ';' but found {_show(txt, pos)}", offset=pos)
        pos = delim.end()
        if pos == len(txt):
            break  # RFC 8461 §3.1: optional trailing delimiter
        name = _NAME.match(txt, pos)
        if name is None:
            raise RecordSyntaxError(
                f"expected a field name (letter or digit first) but found {_show(txt, pos)}",
                offset=pos,
            )
        key = name.group()
        pos = name.end()
        if not txt.startswith("=", pos):
            if pos < len(txt) and _NAME_CHAR.match(txt[pos]):
                raise RecordSyntaxError("field name longer than 32 characters", offset=name.start())
            raise RecordSyntaxError(
                f"expected '=' after field name but found {_show(txt, pos)}", offset=pos, field=key
            )
        pos += 1
        if key == "id":
            value = _ID.match(txt, pos)
            if value is None or not _field_ends(txt, value.end()):
                raise RecordSyntaxError(
                    "id must be 1 to 32 letters or digits", offset=pos, field="id"
                )
            if record_id is None:
                record_id = value.group()
        else:
            value = _EXT_VALUE.match(txt, pos)
            if value is None or not _field_ends(txt, value.end()):
                bad = pos if value is None else value.end()
                raise RecordSyntaxError(
                    f"invalid character {_show(txt, bad)} in extension value", offset=bad, field=key
                )
            extensions.append((key, value.group()))
        pos = value.end()
    if record_id is None:
        raise RecordSyntaxError("missing required field id", field="id")
    return Record(id=record_id, extensions=tuple(extensions))


def select_record(texts: Iterable[str]) -> Record:
    """Pick and parse the MTA-STS record among a name's TXT values (RFC 8461 §3.1).

    Values not starting with ``v=STSv1`` are ignored. Raises NoRecord when none
    is left, MultipleRecords for more than one, RecordSyntaxError for a bad one.
    """
    candidates = [t for t in texts if is_mtasts_record(t)]
    if not candidates:
        raise NoRecord("no TXT record starting with v=STSv1")
    if len(candidates) > 1:
        raise MultipleRecords(len(candidates))
    return parse_record(candidates[0])


def _field_ends(txt: str, pos: int) -> bool:
    return pos == len(txt) or txt[pos] in " \t;"


def _show(txt: str, pos: int) -> str:
    return repr(txt[pos]) if pos < len(txt) else "end of record"
