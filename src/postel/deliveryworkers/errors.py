"""Errors of the delivery worker processes."""

from __future__ import annotations

from postel.errors import InputError, LimitError, PostelError


class FrameDecodeError(InputError):
    """A frame between the main process and a delivery worker is not what
    postel.deliveryworkers.codec writes."""


class FrameTooLarge(LimitError):
    """A frame is longer than postel.deliveryworkers.frames.MAX_FRAME."""


class DeliveryWorkerStartError(PostelError):
    """A delivery worker did not come up (it said why, exited, or did not answer in time)."""
