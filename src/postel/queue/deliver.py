"""What the runner needs from postel.delivery: a deliverer, its request and outcome.

Typed on both sides (postel.delivery.request); unit tests pass a fake
deliverer that returns a DeliveryOutcome.
"""

from __future__ import annotations

from typing import Literal, Protocol

from postel.delivery.request import DeliveryOutcome, DeliveryRequest, RecipientOutcome


class DelivererLike(Protocol):
    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome: ...


def failed_outcome(
    rcpts: list[str], status: Literal["temporary", "permanent"], enhanced: str, message: str
) -> DeliveryOutcome:
    """An outcome made by the runner itself (file missing, the deliverer raised)."""
    return DeliveryOutcome(tuple(RecipientOutcome(r, status, 0, enhanced, message) for r in rcpts))
