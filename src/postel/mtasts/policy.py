"""MTA-STS policy files (RFC 8461 §3.2): model, parsing and serialisation."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from postel.mtasts.errors import PolicySyntaxError
from postel.mtasts.match import matches_any, mx_pattern_error
from postel.mtasts.record import EXT_NAME

VERSION = "STSv1"
MAX_AGE_LIMIT = 31557600  # RFC 8461 §3.2: about one year
MAX_POLICY_SIZE = 64 * 1024  # RFC 8461 §3.3: policy bodies over 64 KiB are invalid

_LINE = re.compile(rf"({EXT_NAME}):[ \t]*(.*?)[ \t]*")
_VALUE = re.compile(r"[^\x00-\x1f\x7f]+")
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_SINGLE_FIELDS = ("version", "mode", "max_age")


class Mode(enum.StrEnum):
    """Policy mode (RFC 8461 §5)."""

    TESTING = "testing"
    ENFORCE = "enforce"
    NONE = "none"


@dataclass(frozen=True)
class Policy:
    """A parsed policy. ``mx`` patterns keep their order and spelling."""

    mode: Mode
    max_age: int
    mx: tuple[str, ...] = ()
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def version(self) -> str:
        return VERSION

    def policy_lines(self) -> list[str]:
        """The policy as lines without terminators, e.g. for an RFC 8460 policy-string."""
        lines = [f"version: {VERSION}", f"mode: {self.mode.value}"]
        lines.extend(f"mx: {mx}" for mx in self.mx)
        lines.append(f"max_age: {self.max_age}")
        lines.extend(f"{k}: {v}" for k, v in self.extensions)
        return lines

    def text(self) -> str:
        """The policy file text, LF-terminated lines."""
        return "".join(line + "\n" for line in self.policy_lines())

    def matches(self, host: str) -> bool:
        """Whether MX ``host`` is allowed by this policy's mx patterns (RFC 8461 §4.1)."""
        return matches_any(self.mx, host)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "mode": self.mode.value,
            "max_age": self.max_age,
            "mx": list(self.mx),
            "extensions": [[k, v] for k, v in self.extensions],
        }


def parse_policy(data: str | bytes) -> Policy:
    """Parse a policy file per RFC 8461 §3.2; bytes must be UTF-8.

    Lines end in LF or CRLF; blank lines are ignored. Of repeated version,
    mode and max_age fields the first is used; unknown fields are kept as
    extensions. Raises PolicySyntaxError naming line and field.
    """
    text = _decode(data) if isinstance(data, bytes) else data
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    seen: set[str] = set()
    version: str | None = None
    mode: Mode | None = None
    max_age: int | None = None
    mx: list[str] = []
    extensions: list[tuple[str, str]] = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if line == "":
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise PolicySyntaxError(_line_problem(line), line=lineno)
        key, value = m.group(1), m.group(2)
        if not _VALUE.fullmatch(value):
            what = "empty value" if value == "" else "control character in value"
            raise PolicySyntaxError(what, line=lineno, field=key)
        if key in _SINGLE_FIELDS and key in seen:
            continue  # RFC 8461 §3.2: the first occurrence is used
        seen.add(key)
        if key == "version":
            if value != VERSION:
                raise PolicySyntaxError(
                    f"unsupported version {value!r}, expected {VERSION}", line=lineno, field=key
                )
            version = value
        elif key == "mode":
            try:
                mode = Mode(value)
            except ValueError:
                raise PolicySyntaxError(
                    f"invalid mode {value!r}, expected testing, enforce or none",
                    line=lineno,
                    field=key,
                ) from None
        elif key == "max_age":
            if not _MAX_AGE.fullmatch(value):
                raise PolicySyntaxError(
                    f"invalid max_age {value!r}, expected 1 to 10 digits", line=lineno, field=key
                )
            max_age = int(value)
            if max_age > MAX_AGE_LIMIT:
                raise PolicySyntaxError(
                    f"max_age {max_age} exceeds the maximum of {MAX_AGE_LIMIT}",
                    line=lineno,
                    field=key,
                )
        elif key == "mx":
            problem = mx_pattern_error(value)
            if problem is not None:
                raise PolicySyntaxError(problem, line=lineno, field=key)
            mx.append(value)
        else:
            extensions.append((key, value))
    if version is None:
        raise PolicySyntaxError("missing required field version", field="version")
    if mode is None:
        raise PolicySyntaxError("missing required field mode", field="mode")
    if max_age is None:
        raise PolicySyntaxError("missing required field max_age", field="max_age")
    if not mx and mode != Mode.NONE:
        raise PolicySyntaxError(f"at least one mx is required in mode {mode.value}", field="mx")
    return Policy(mode=mode, max_age=max_age, mx=tuple(mx), extensions=tuple(extensions))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise PolicySyntaxError(f"invalid UTF-8 at byte {e.start}", line=lineno) from None


def _line_problem(line: str) -> str:
    key = line.split(":", 1)[0] if ":" in line else None
    if key is None:
        return f"expected 'key: value' but found {line[:40]!r}"
    if key == "":
        return "empty field name"
    if len(key) > 32 and re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
        return f"field name {key[:40]!r} longer than 32 characters"
    return (
        f"invalid field name {key[:40]!r} (letters, digits, '_', '-', '.'; letter or digit first)"
    )
