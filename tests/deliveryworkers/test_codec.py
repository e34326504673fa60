"""The frames between the main process and a delivery worker: every field of a
request and an outcome, TLS results included, survives the round trip."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from postel.delivery.request import (
    DeliveryOutcome,
    DeliveryRequest,
    DomainSecurity,
    RecipientOutcome,
    TLSAttempt,
)
from postel.deliveryworkers import codec, frames
from postel.deliveryworkers.errors import FrameDecodeError, FrameTooLarge
from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb.record import AttemptResults


def full_request() -> DeliveryRequest:
    """Every field away from its default, so that a field lost on the way shows."""
    return DeliveryRequest(
        domain="exämple.test",
        mail_from="alice@sender.test",
        rcpts=["bob@exämple.test", "carol@exämple.test"],
        message=Path("/var/lib/postel/queue/msg/01/42"),
        size=12345,
        requiretls=True,
        tls_required_no=True,
        is_tlsrpt=True,
        is_dmarc_report=True,
        sender_account="alice",
        smtputf8=True,
        eightbit=True,
        attempt=7,
    )


def full_outcome() -> DeliveryOutcome:
    sts = Policy(
        PolicyDetails(
            PolicyType.STS, ["version: STSv1", "mode: enforce"], "ex.test", ["mx.ex.test"]
        ),
        Summary(3, 2),
        [
            FailureDetails(
                ResultType.CERTIFICATE_EXPIRED,
                "192.0.2.1",
                "mx.ex.test",
                "mx-helo.ex.test",
                "198.51.100.2",
                2,
                "expired on 2026-01-01",
                "X509_V_ERR_CERT_HAS_EXPIRED",
            ),
            # A result type this version does not know stays a string.
            FailureDetails("some-future-result", failed_session_count=1),
        ],
    )
    tlsa = Policy(PolicyDetails(PolicyType.TLSA, ["3 1 1 abcd"], "mx.ex.test"), Summary(1, 0))
    return DeliveryOutcome(
        recipients=(
            RecipientOutcome("bob@ex.test", "delivered", 250, "2.0.0", "ok", "mx.ex.test"),
            RecipientOutcome("carol@ex.test", "temporary", 451, "4.4.1", "later"),
            RecipientOutcome("dave@ex.test", "permanent", 550, "5.1.1", "no such user", "mx2"),
        ),
        tls_reports=(
            TLSAttempt(AttemptResults("ex.test", sts, {"mx.ex.test": tlsa}), True),
            TLSAttempt(AttemptResults("other.test"), False),
        ),
        learned=(DomainSecurity("alice", "ex.test", True, False),),
    )


def test_request_round_trips_with_every_field() -> None:
    frame = codec.RequestFrame(41, 0x1234_5678_9ABC, full_request())
    back = codec.decode(codec.encode(frame))
    assert back == frame
    encoded = codec.request_to_json(full_request())
    assert set(encoded) == {f.name for f in dataclasses.fields(DeliveryRequest)}


def test_outcome_round_trips_with_tls_results() -> None:
    frame = codec.OutcomeFrame(41, full_outcome())
    back = codec.decode(codec.encode(frame))
    assert back == frame
    assert isinstance(back, codec.OutcomeFrame)
    details = back.outcome.tls_reports[0].results.domain_result
    assert details is not None
    assert details.failure_details[0].result_type is ResultType.CERTIFICATE_EXPIRED
    encoded = codec.outcome_to_json(full_outcome())
    assert set(encoded) == {f.name for f in dataclasses.fields(DeliveryOutcome)}


def test_every_field_of_the_nested_results_is_carried() -> None:
    """A field added to one of these classes must be added to the codec too."""
    assert [f.name for f in dataclasses.fields(RecipientOutcome)] == [
        "rcpt", "status", "code", "enhanced", "message", "remote_mta"
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(DomainSecurity)] == [
        "account", "domain", "starttls", "requiretls"
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(TLSAttempt)] == ["results", "send_report"]
    assert [f.name for f in dataclasses.fields(AttemptResults)] == [
        "recipient_domain", "domain_result", "host_results"
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(Policy)] == [
        "policy", "summary", "failure_details"
    ]  # fmt: skip
    assert len(dataclasses.fields(PolicyDetails)) == 4
    assert len(dataclasses.fields(Summary)) == 2
    assert len(dataclasses.fields(FailureDetails)) == 8


def test_status_frames_round_trip() -> None:
    assert codec.decode(codec.encode(codec.StatusFrame(True))) == codec.StatusFrame(True)
    err = codec.StatusFrame(False, "storage: connection refused")
    assert codec.decode(codec.encode(err)) == err


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"t": "out", "id": 1}',
        b'{"t": "what", "id": 1}',
        b'{"t": "req", "id": true, "cid": null, "req": {}}',
        b'{"t": "out", "id": 1, "out": {"recipients": [["a", "lost", 1, "", "", ""]],'
        b' "tls_reports": [], "learned": []}}',
        b'{"t": "out", "id": 1, "out": {"recipients": [["a", "delivered", "250", "", "", ""]],'
        b' "tls_reports": [], "learned": []}}',
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(FrameDecodeError):
        codec.decode(data)


async def test_frames_are_length_prefixed_and_bounded() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(frames.pack(b"one") + frames.pack(b"") + frames.pack(b"three"))
    reader.feed_eof()
    assert await frames.read_frame(reader) == b"one"
    assert await frames.read_frame(reader) == b""
    assert await frames.read_frame(reader) == b"three"
    assert await frames.read_frame(reader) is None  # a clean end between frames

    cut = asyncio.StreamReader()
    cut.feed_data(frames.pack(b"abcdef")[:-2])
    cut.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError):
        await frames.read_frame(cut)

    huge = asyncio.StreamReader()
    huge.feed_data((frames.MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(FrameTooLarge):
        await frames.read_frame(huge)
    with pytest.raises(FrameTooLarge):
        frames.pack(b"x" * (frames.MAX_FRAME + 1))
