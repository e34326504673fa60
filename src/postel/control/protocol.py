"""The control socket's messages (pure): one JSON object per line each way.

Request:  {"command": "reload", "args": {...}}
Response: {"ok": true, "result": {...}}  or  {"ok": false, "error": "what and where"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from postel.errors import InputError

MAX_LINE = 64 * 1024  # bytes of one request or response line


class ControlMessageError(InputError):
    """A message that is not a valid request or response."""


@dataclass(frozen=True)
class Request:
    command: str
    args: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return _line({"command": self.command, "args": self.args})


@dataclass(frozen=True)
class Response:
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def encode(self) -> bytes:
        if self.ok:
            return _line({"ok": True, "result": self.result})
        return _line({"ok": False, "error": self.error})


def _line(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    if len(data) > MAX_LINE:
        raise ControlMessageError(f"control message of {len(data)} bytes, more than {MAX_LINE}")
    return data


def _object(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ControlMessageError(f"control message longer than {MAX_LINE} bytes")
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ControlMessageError(f"control message is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ControlMessageError("control message is not a JSON object")
    return obj


def decode_request(line: bytes) -> Request:
    obj = _object(line)
    command, args = obj.get("command"), obj.get("args", {})
    if not isinstance(command, str) or not command:
        raise ControlMessageError("control request without a command")
    if not isinstance(args, dict):
        raise ControlMessageError(f"control request {command!r}: args is not an object")
    return Request(command, args)


def decode_response(line: bytes) -> Response:
    obj = _object(line)
    if obj.get("ok") is True:
        result = obj.get("result", {})
        if not isinstance(result, dict):
            raise ControlMessageError("control response: result is not an object")
        return Response(True, result)
    return Response(False, error=str(obj.get("error") or "the server gave no reason"))
