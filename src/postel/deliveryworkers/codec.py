"""The frames between the main process and a delivery worker, as JSON (pure).

Explicit field by field, so that a change to DeliveryRequest or
DeliveryOutcome that is not carried here fails the round-trip tests instead
of being lost on the way. Every frame is a JSON object with ``t`` (its
type) and ``id`` (the request it answers):

- ``req``: id, cid (the attempt's log id), request
- ``out``: id, outcome
- ``ready`` (id 0): the worker is up; ``error`` (id 0): it cannot start, and why
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from postel.delivery.request import (
    DeliveryOutcome,
    DeliveryRequest,
    DomainSecurity,
    RecipientOutcome,
    Status,
    TLSAttempt,
)
from postel.deliveryworkers.errors import FrameDecodeError
from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb.record import AttemptResults

JSONObj = dict[str, object]
T = TypeVar("T")
_STATUSES: frozenset[str] = frozenset({"delivered", "temporary", "permanent"})
_RESULT_TYPES = {str(r): r for r in ResultType}


@dataclass(frozen=True)
class RequestFrame:
    id: int
    cid: int | None
    request: DeliveryRequest


@dataclass(frozen=True)
class OutcomeFrame:
    id: int
    outcome: DeliveryOutcome


@dataclass(frozen=True)
class StatusFrame:
    """The worker's first frame: ready, or the one-line reason it cannot start."""

    ready: bool
    text: str = ""
    id: int = 0


Frame = RequestFrame | OutcomeFrame | StatusFrame


# -- encoding ------------------------------------------------------------------


def encode(frame: Frame) -> bytes:
    if isinstance(frame, RequestFrame):
        obj: JSONObj = {
            "t": "req",
            "id": frame.id,
            "cid": frame.cid,
            "req": request_to_json(frame.request),
        }
    elif isinstance(frame, OutcomeFrame):
        obj = {"t": "out", "id": frame.id, "out": outcome_to_json(frame.outcome)}
    else:
        obj = {"t": "ready" if frame.ready else "error", "id": 0, "text": frame.text}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_to_json(r: DeliveryRequest) -> JSONObj:
    return {
        "domain": r.domain,
        "mail_from": r.mail_from,
        "rcpts": list(r.rcpts),
        "message": str(r.message),
        "size": r.size,
        "requiretls": r.requiretls,
        "tls_required_no": r.tls_required_no,
        "is_tlsrpt": r.is_tlsrpt,
        "is_dmarc_report": r.is_dmarc_report,
        "sender_account": r.sender_account,
        "smtputf8": r.smtputf8,
        "eightbit": r.eightbit,
        "attempt": r.attempt,
    }


def outcome_to_json(o: DeliveryOutcome) -> JSONObj:
    return {
        "recipients": [
            [r.rcpt, r.status, r.code, r.enhanced, r.message, r.remote_mta] for r in o.recipients
        ],
        "tls_reports": [
            {"results": _attempt_to_json(t.results), "send_report": t.send_report}
            for t in o.tls_reports
        ],
        "learned": [[d.account, d.domain, d.starttls, d.requiretls] for d in o.learned],
    }


def _attempt_to_json(a: AttemptResults) -> JSONObj:
    return {
        "recipient_domain": a.recipient_domain,
        "domain_result": None if a.domain_result is None else _policy_to_json(a.domain_result),
        "host_results": {h: _policy_to_json(p) for h, p in a.host_results.items()},
    }


def _policy_to_json(p: Policy) -> JSONObj:
    d = p.policy
    return {
        "policy": [str(d.policy_type), list(d.policy_strings), d.policy_domain, list(d.mx_hosts)],
        "summary": [
            p.summary.total_successful_session_count,
            p.summary.total_failure_session_count,
        ],
        "failure_details": [
            [
                str(f.result_type),
                f.sending_mta_ip,
                f.receiving_mx_hostname,
                f.receiving_mx_helo,
                f.receiving_ip,
                f.failed_session_count,
                f.additional_information,
                f.failure_reason_code,
            ]
            for f in p.failure_details
        ],
    }


# -- decoding ------------------------------------------------------------------


def decode(data: bytes) -> Frame:
    """The frame in *data*; FrameDecodeError says what is wrong with it."""
    try:
        obj = json.loads(data)
        kind = _get(obj, "t", str)
        fid = _get(obj, "id", int)
        if kind == "req":
            cid = obj.get("cid")
            if cid is not None and not isinstance(cid, int):
                raise FrameDecodeError("cid is not an integer")
            return RequestFrame(fid, cid, request_from_json(_get(obj, "req", dict)))
        if kind == "out":
            return OutcomeFrame(fid, outcome_from_json(_get(obj, "out", dict)))
        if kind in ("ready", "error"):
            return StatusFrame(kind == "ready", _get(obj, "text", str))
        raise FrameDecodeError(f"unknown frame type {kind!r}")
    except FrameDecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise FrameDecodeError(f"malformed frame: {exc}") from None


def _get(obj: object, key: str, kind: type[T]) -> T:
    if not isinstance(obj, dict):
        raise FrameDecodeError("expected a JSON object")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FrameDecodeError(f"{key} is not {kind.__name__}")
    return value


def _str_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FrameDecodeError(f"{key} is not a list of strings")
    return cast(list[str], value)


def request_from_json(o: dict[str, object]) -> DeliveryRequest:
    account = o["sender_account"]
    if account is not None and not isinstance(account, str):
        raise FrameDecodeError("sender_account is not a string")
    return DeliveryRequest(
        domain=_get(o, "domain", str),
        mail_from=_get(o, "mail_from", str),
        rcpts=_str_list(o["rcpts"], "rcpts"),
        message=Path(_get(o, "message", str)),
        size=_get(o, "size", int),
        requiretls=_get(o, "requiretls", bool),
        tls_required_no=_get(o, "tls_required_no", bool),
        is_tlsrpt=_get(o, "is_tlsrpt", bool),
        is_dmarc_report=_get(o, "is_dmarc_report", bool),
        sender_account=account,
        smtputf8=_get(o, "smtputf8", bool),
        eightbit=_get(o, "eightbit", bool),
        attempt=_get(o, "attempt", int),
    )


def outcome_from_json(o: dict[str, object]) -> DeliveryOutcome:
    recipients: list[RecipientOutcome] = []
    for r in _get(o, "recipients", list):
        rcpt, status, code, enhanced, message, remote = r
        if status not in _STATUSES:
            raise FrameDecodeError(f"unknown status {status!r}")
        recipients.append(
            RecipientOutcome(
                _typed(rcpt, str),
                cast(Status, status),
                _typed(code, int),
                _typed(enhanced, str),
                _typed(message, str),
                _typed(remote, str),
            )
        )
    reports = tuple(
        TLSAttempt(
            _attempt_from_json(_get(t, "results", dict)),
            _get(t, "send_report", bool),
        )
        for t in _get(o, "tls_reports", list)
    )
    learned = tuple(
        DomainSecurity(_typed(a, str), _typed(d, str), _typed(s, bool), _typed(rt, bool))
        for a, d, s, rt in _get(o, "learned", list)
    )
    return DeliveryOutcome(tuple(recipients), reports, learned)


def _typed(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FrameDecodeError(f"{value!r} is not {kind.__name__}")
    return value


def _attempt_from_json(a: dict[str, object]) -> AttemptResults:
    dr = a["domain_result"]
    hosts = _get(a, "host_results", dict)
    return AttemptResults(
        recipient_domain=_get(a, "recipient_domain", str),
        domain_result=None if dr is None else _policy_from_json(_typed(dr, dict)),
        host_results={_typed(h, str): _policy_from_json(_typed(p, dict)) for h, p in hosts.items()},
    )


def _policy_from_json(p: dict[str, object]) -> Policy:
    ptype, strings, pdomain, mx = _get(p, "policy", list)
    ok, failed = _get(p, "summary", list)
    details: list[FailureDetails] = []
    for f in _get(p, "failure_details", list):
        rtype, ip, mxname, helo, rip, count, info, code = f
        rtype = _typed(rtype, str)
        details.append(
            FailureDetails(
                # Unknown result types stay strings, as in FailureDetails.
                _RESULT_TYPES.get(rtype, rtype),
                _typed(ip, str),
                _typed(mxname, str),
                _typed(helo, str),
                _typed(rip, str),
                _typed(count, int),
                _typed(info, str),
                _typed(code, str),
            )
        )
    return Policy(
        PolicyDetails(
            PolicyType(_typed(ptype, str)),
            _str_list(strings, "policy_strings"),
            _typed(pdomain, str),
            _str_list(mx, "mx_hosts"),
        ),
        Summary(_typed(ok, int), _typed(failed, int)),
        details,
    )
