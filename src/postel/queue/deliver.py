"""What the queue needs from postel.delivery: a Deliverer and its request/outcome.

The queue only relies on the shapes below, so unit tests
can pass a fake deliverer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Outcome(Protocol):
    """postel.delivery.RecipientOutcome as the queue reads it."""

    @property
    def rcpt(self) -> str: ...
    @property
    def status(self) -> str: ...  # "delivered" | "temporary" | "permanent"
    @property
    def code(self) -> int: ...
    @property
    def enhanced(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def remote_mta(self) -> str: ...


class DelivererLike(Protocol):
    async def deliver(self, req: Any) -> Sequence[Outcome]: ...


@dataclass(frozen=True)
class Result:
    """An outcome made by the queue itself (delivery raised, file missing, ...)."""

    rcpt: str
    status: str
    code: int = 0
    enhanced: str = ""
    message: str = ""
    remote_mta: str = ""


def make_request(
    *,
    domain: str,
    mail_from: str,
    rcpts: list[str],
    message: Path,
    size: int,
    requiretls: bool,
    tls_required_no: bool,
    is_tlsrpt: bool,
    is_dmarc_report: bool,
    sender_account: str | None,
    smtputf8: bool,
    eightbit: bool,
    attempt: int,
) -> Any:
    """A postel.delivery.DeliveryRequest."""
    from postel.delivery import DeliveryRequest

    return DeliveryRequest(
        domain=domain,
        mail_from=mail_from,
        rcpts=rcpts,
        message=message,
        size=size,
        requiretls=requiretls,
        tls_required_no=tls_required_no,
        is_tlsrpt=is_tlsrpt,
        is_dmarc_report=is_dmarc_report,
        sender_account=sender_account,
        smtputf8=smtputf8,
        eightbit=eightbit,
        attempt=attempt,
    )
