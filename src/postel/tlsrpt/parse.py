"""Strict and lenient parsing of TLS reports (RFC 8460 §4.4).

Input may be raw JSON, gzip (RFC 8460 §5.3, bounded decompression) or a whole
report message. Lenient parsing accepts what real reporters send (old mx-host
string form, contact-info null, missing sending-mta-ip or policy-domain) and
returns warnings naming what was missing or odd, each with its JSON path.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from postel.reportbudget import Budget
from postel.tlsrpt.container import (
    gunzip_bounded,
    gunzip_chunks,
    is_gzip,
    looks_like_message,
    report_parts,
)
from postel.tlsrpt.errors import TLSRPTError, TLSRPTInputError, TLSRPTLimitError, TLSRPTReportError
from postel.tlsrpt.report import (
    DateRange,
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    Report,
    ResultType,
    Summary,
)

log = logging.getLogger("postel.tlsrpt")

_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_MAX_COUNT = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Bounds on input, decompressed size and element counts."""

    max_input_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 10 * 1024 * 1024  # per message, all parts together
    max_policies: int = 10_000
    max_failure_details: int = 100_000
    max_strings: int = 100_000
    # JSON values per message, counted before decoding (see _count_values).
    max_json_values: int = 250_000
    max_report_parts: int = 4  # candidate parts of one message decoded and tried


DEFAULT_LIMITS = Limits()


@dataclass
class ParseResult:
    report: Report
    warnings: list[str] = field(default_factory=list)


class _Ctx:
    def __init__(self, strict: bool, limits: Limits) -> None:
        self.strict = strict
        self.limits = limits
        self.warnings: list[str] = []
        self.failure_details = 0
        self.strings = 0

    def odd(self, path: str, msg: str) -> None:
        """A deviation lenient mode tolerates and strict mode rejects."""
        if self.strict:
            raise TLSRPTReportError(msg, path)
        self.warnings.append(f"{path}: {msg}" if path else msg)

    def note(self, path: str, msg: str) -> None:
        """Something worth reporting that is never an error."""
        self.warnings.append(f"{path}: {msg}" if path else msg)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _object(v: Any, path: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise TLSRPTReportError(f"expected object, got {_kind(v)}", path)
    return v


def _known(ctx: _Ctx, obj: dict[str, Any], path: str, keys: tuple[str, ...]) -> None:
    for k in obj:
        if k not in keys:
            ctx.note(_join(path, k), "unknown field ignored")


def _string(
    ctx: _Ctx, obj: dict[str, Any], key: str, path: str, *, required: bool, lenient_missing: bool
) -> str:
    """A string member. Missing/null: error if required, unless lenient_missing (then odd)."""
    p = _join(path, key)
    v = obj.get(key)
    if v is None:
        what = "is null" if key in obj else "missing"
        if required:
            if not lenient_missing:
                raise TLSRPTReportError(f"required field {what}", p)
            ctx.odd(p, f"required field {what}")
        elif key in obj:
            ctx.odd(p, "null instead of a string")
        return ""
    if not isinstance(v, str):
        raise TLSRPTReportError(f"expected string, got {_kind(v)}", p)
    return v


def _count(ctx: _Ctx, obj: dict[str, Any], key: str, path: str) -> int:
    p = _join(path, key)
    if key not in obj:
        raise TLSRPTReportError("required field missing", p)
    v = obj[key]
    if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) <= 19:
        ctx.odd(p, "number given as string")
        v = int(v.strip())
    elif isinstance(v, float) and v.is_integer():
        ctx.odd(p, "number given with a fraction")
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TLSRPTReportError(f"expected non-negative integer, got {_kind(v)}", p)
    if v < 0 or v > _MAX_COUNT:
        raise TLSRPTReportError(f"count out of range: {v}", p)
    return v


def _string_list(ctx: _Ctx, obj: dict[str, Any], key: str, path: str) -> list[str]:
    p = _join(path, key)
    if key not in obj:
        return []
    v = obj[key]
    if v is None:
        ctx.odd(p, "null instead of an array")
        return []
    if isinstance(v, str):
        # RFC 8460 erratum 6241: mx-host is an array; early reports used a string.
        ctx.odd(p, "string instead of an array (RFC 8460 erratum 6241)")
        v = [v] if v else []
    if not isinstance(v, list):
        raise TLSRPTReportError(f"expected array of strings, got {_kind(v)}", p)
    ctx.strings += len(v)
    if ctx.strings > ctx.limits.max_strings:
        raise TLSRPTLimitError(f"{p}: more than {ctx.limits.max_strings} strings in report")
    out = []
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise TLSRPTReportError(f"expected string, got {_kind(s)}", _join(p, i))
        out.append(s)
    return out


def _datetime(ctx: _Ctx, obj: dict[str, Any], key: str, path: str) -> datetime:
    p = _join(path, key)
    s = _string(ctx, obj, key, path, required=True, lenient_missing=False)
    if not _RFC3339_RE.match(s):
        ctx.odd(p, f"not an RFC 3339 date-time: {s!r}")
    text = s.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise TLSRPTReportError(f"invalid date-time {s!r}", p) from None
    if dt.tzinfo is None:
        ctx.odd(p, "date-time without time zone, assuming UTC")
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _domain(ctx: _Ctx, value: str, path: str) -> str:
    """Policy domains are A-labels (RFC 8460 §4.4)."""
    if value.isascii():
        return value
    ctx.odd(path, f"domain not in A-label form: {value!r}")
    try:
        return value.encode("idna").decode("ascii")
    except UnicodeError:
        return value


def _ip(ctx: _Ctx, value: str, path: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        ctx.odd(path, f"not an IP address: {value!r}")


def _failure_details(ctx: _Ctx, v: Any, path: str) -> FailureDetails:
    obj = _object(v, path)
    _known(
        ctx,
        obj,
        path,
        (
            "result-type",
            "sending-mta-ip",
            "receiving-mx-hostname",
            "receiving-mx-helo",
            "receiving-ip",
            "failed-session-count",
            "additional-information",
            "failure-reason-code",
        ),
    )
    rt_s = _string(ctx, obj, "result-type", path, required=True, lenient_missing=False)
    result_type: ResultType | str
    try:
        result_type = ResultType(rt_s)
    except ValueError:
        ctx.odd(_join(path, "result-type"), f"unknown result type {rt_s!r}")
        result_type = rt_s
    sending = _string(ctx, obj, "sending-mta-ip", path, required=True, lenient_missing=True)
    if sending:
        _ip(ctx, sending, _join(path, "sending-mta-ip"))
    receiving_ip = _string(ctx, obj, "receiving-ip", path, required=False, lenient_missing=True)
    if receiving_ip:
        _ip(ctx, receiving_ip, _join(path, "receiving-ip"))

    def opt(key: str) -> str:
        return _string(ctx, obj, key, path, required=False, lenient_missing=True)

    return FailureDetails(
        result_type=result_type,
        sending_mta_ip=sending,
        receiving_mx_hostname=opt("receiving-mx-hostname"),
        receiving_mx_helo=opt("receiving-mx-helo"),
        receiving_ip=receiving_ip,
        failed_session_count=_count(ctx, obj, "failed-session-count", path),
        additional_information=opt("additional-information"),
        failure_reason_code=opt("failure-reason-code"),
    )


def _policy(ctx: _Ctx, v: Any, path: str) -> Policy:
    obj = _object(v, path)
    _known(ctx, obj, path, ("policy", "summary", "failure-details"))
    pp = _join(path, "policy")
    if "policy" not in obj:
        raise TLSRPTReportError("required field missing", pp)
    pobj = _object(obj["policy"], pp)
    _known(ctx, pobj, pp, ("policy-type", "policy-string", "policy-domain", "mx-host"))
    pt_s = _string(ctx, pobj, "policy-type", pp, required=True, lenient_missing=False)
    try:
        policy_type = PolicyType(pt_s)
    except ValueError:
        raise TLSRPTReportError(
            f"unknown policy type {pt_s!r} (tlsa, sts or no-policy-found)",
            _join(pp, "policy-type"),
        ) from None
    domain = _string(ctx, pobj, "policy-domain", pp, required=True, lenient_missing=True)
    details = PolicyDetails(
        policy_type=policy_type,
        policy_strings=_string_list(ctx, pobj, "policy-string", pp),
        policy_domain=_domain(ctx, domain, _join(pp, "policy-domain")),
        mx_hosts=_string_list(ctx, pobj, "mx-host", pp),
    )
    sp = _join(path, "summary")
    if "summary" not in obj:
        raise TLSRPTReportError("required field missing", sp)
    sobj = _object(obj["summary"], sp)
    _known(ctx, sobj, sp, ("total-successful-session-count", "total-failure-session-count"))
    summary = Summary(
        total_successful_session_count=_count(ctx, sobj, "total-successful-session-count", sp),
        total_failure_session_count=_count(ctx, sobj, "total-failure-session-count", sp),
    )
    fp = _join(path, "failure-details")
    raw = obj.get("failure-details", [])
    if raw is None:
        ctx.odd(fp, "null instead of an array")
        raw = []
    if not isinstance(raw, list):
        raise TLSRPTReportError(f"expected array, got {_kind(raw)}", fp)
    ctx.failure_details += len(raw)
    if ctx.failure_details > ctx.limits.max_failure_details:
        raise TLSRPTLimitError(f"{fp}: more than {ctx.limits.max_failure_details} failure details")
    failures = [_failure_details(ctx, d, _join(fp, i)) for i, d in enumerate(raw)]
    counted = sum(d.failed_session_count for d in failures)
    if counted > summary.total_failure_session_count:
        ctx.note(
            fp,
            f"failure details count {counted} sessions, more than the summary's "
            f"{summary.total_failure_session_count}",
        )
    return Policy(policy=details, summary=summary, failure_details=failures)


def report_from_obj(
    obj: Any, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Build a Report from decoded JSON (a dict)."""
    ctx = _Ctx(strict, limits)
    return ParseResult(_report(ctx, obj), ctx.warnings)


def _report(ctx: _Ctx, v: Any) -> Report:
    obj = _object(v, "$")
    _known(
        ctx,
        obj,
        "",
        ("organization-name", "date-range", "contact-info", "report-id", "policies"),
    )
    org = _string(ctx, obj, "organization-name", "", required=True, lenient_missing=False)
    report_id = _string(ctx, obj, "report-id", "", required=True, lenient_missing=False)
    contact = _string(ctx, obj, "contact-info", "", required=True, lenient_missing=True)
    if "date-range" not in obj:
        raise TLSRPTReportError("required field missing", "date-range")
    dobj = _object(obj["date-range"], "date-range")
    _known(ctx, dobj, "date-range", ("start-datetime", "end-datetime"))
    date_range = DateRange(
        start=_datetime(ctx, dobj, "start-datetime", "date-range"),
        end=_datetime(ctx, dobj, "end-datetime", "date-range"),
    )
    if date_range.end < date_range.start:
        ctx.odd("date-range", "end-datetime before start-datetime")
    if "policies" not in obj:
        raise TLSRPTReportError("required field missing", "policies")
    raw = obj["policies"]
    if raw is None:
        ctx.odd("policies", "null instead of an array")
        raw = []
    if not isinstance(raw, list):
        raise TLSRPTReportError(f"expected array, got {_kind(raw)}", "policies")
    if len(raw) > ctx.limits.max_policies:
        raise TLSRPTLimitError(f"policies: more than {ctx.limits.max_policies} entries")
    policies = [_policy(ctx, p, _join("policies", i)) for i, p in enumerate(raw)]
    return Report(
        organization_name=org,
        date_range=date_range,
        contact_info=contact,
        report_id=report_id,
        policies=policies,
    )


def _budget(limits: Limits) -> Budget:
    """The work one message (or one file) may cost, all parts together."""
    return Budget(
        max_bytes=limits.max_decompressed_bytes,
        max_elements=limits.max_json_values,
        limit_error=TLSRPTLimitError,
    )


def _count_values(data: bytes | str) -> int:
    """An upper bound on the arrays, objects and values in a JSON text, found cheaply.

    Every array and object starts with a bracket, and every value after the
    first in one is preceded by a comma (RFC 8259 §4, §5); brackets and commas
    inside strings count too, which only makes the bound larger. This runs at
    C speed before json.loads builds anything, so millions of `[]` or `0,` in
    a few megabytes are refused instead of becoming millions of objects.
    """
    if isinstance(data, str):
        return data.count("[") + data.count("{") + data.count(",") + 1
    return data.count(b"[") + data.count(b"{") + data.count(b",") + 1


def parse_report_json(
    data: bytes | str,
    *,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    budget: Budget | None = None,
) -> ParseResult:
    """Parse a report from JSON text (UTF-8 bytes or str).

    *budget* is the message's, when the text is one part of a message.
    """
    if len(data) > limits.max_decompressed_bytes:
        raise TLSRPTLimitError(f"JSON report larger than {limits.max_decompressed_bytes} bytes")
    (budget or _budget(limits)).charge_elements(_count_values(data), "JSON values")
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TLSRPTInputError(f"report is not valid UTF-8 at byte offset {e.start}") from None
    else:
        text = data
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    try:
        obj = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise TLSRPTInputError(
            f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from None
    except RecursionError:
        raise TLSRPTInputError("not valid JSON: nested too deeply") from None
    except ValueError as e:
        raise TLSRPTInputError(f"not valid JSON: {e}") from None
    ctx = _Ctx(strict, limits)
    for k in duplicates:
        ctx.odd("", f"duplicate key {k!r}, last value used")
    report = _report(ctx, obj)
    return ParseResult(report, ctx.warnings)


def parse_report(
    data: bytes, *, strict: bool = False, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    """Parse a report given as JSON, gzip'ed JSON, or a whole report message.

    Raises a TLSRPTError (TLSRPTInputError, TLSRPTLimitError or TLSRPTReportError) on bad input.
    """
    if len(data) > limits.max_input_bytes:
        raise TLSRPTLimitError(f"input larger than {limits.max_input_bytes} bytes")
    if is_gzip(data):
        return parse_report_json(
            gunzip_bounded(data, limits.max_decompressed_bytes), strict=strict, limits=limits
        )
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return parse_report_json(data, strict=strict, limits=limits)
    if looks_like_message(data):
        return _parse_message(data, strict=strict, limits=limits)
    raise TLSRPTInputError("input is not JSON, gzip or a report message")


def _unpack(payload: bytes, limits: Limits, budget: Budget) -> bytes:
    """A part's JSON, gunzipped if need be; its bytes are charged to the message's budget."""
    if not is_gzip(payload):
        budget.charge_bytes(len(payload))
        return payload
    out = bytearray()
    for chunk in gunzip_chunks(payload, limits.max_decompressed_bytes):
        budget.charge_bytes(len(chunk))
        out += chunk
    return bytes(out)


def _parse_message(data: bytes, *, strict: bool, limits: Limits) -> ParseResult:
    parts = report_parts(data, limits.max_report_parts)
    if not parts:
        raise TLSRPTInputError(
            "message contains no TLS report part (application/tlsrpt+gzip or +json)"
        )
    budget = _budget(limits)  # one for the whole message, not one per part
    first_error: TLSRPTError | None = None
    for part in parts:
        payload = part.data
        try:
            payload = _unpack(payload, limits, budget)
            result = parse_report_json(payload, strict=strict, limits=limits, budget=budget)
        except TLSRPTError as e:
            log.debug("report part unusable", extra={"part": part.describe(), "err": str(e)})
            if isinstance(e, TLSRPTLimitError):
                raise TLSRPTLimitError(f"{part.describe()}: {e}") from None
            if first_error is None:
                if isinstance(e, TLSRPTReportError):
                    first_error = TLSRPTReportError(e.reason, f"{part.describe()}: {e.path}")
                else:
                    first_error = type(e)(f"{part.describe()}: {e}")
            continue
        return result
    assert first_error is not None
    raise first_error


def policies_from_obj(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> list[Policy]:
    """Strictly parse a JSON array of `policies` entries (as stored by postel)."""
    if not isinstance(obj, list):
        raise TLSRPTReportError(f"expected array, got {_kind(obj)}", "policies")
    if len(obj) > limits.max_policies:
        raise TLSRPTLimitError(f"policies: more than {limits.max_policies} entries")
    ctx = _Ctx(True, limits)
    return [_policy(ctx, p, _join("policies", i)) for i, p in enumerate(obj)]
