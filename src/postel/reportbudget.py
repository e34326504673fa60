"""The work one received report message may cost, shared by all of its parts.

A report bomb is small on the wire and large once unpacked or parsed. Limits
per part are not enough: a message may carry many parts, and each failing part
used to be tried in turn. A :class:`Budget` is made once per message and
charged as the work happens (decompressed bytes, parsed XML elements or JSON
values); the first charge over a bound raises the caller's limit error, so the
work stops there. (How many parts are tried at all is bounded where they are
picked, postel.reportfile.report_parts.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budget:
    """Bounds on the work for one message, and what has been spent so far."""

    max_bytes: int  # decompressed (or raw) report bytes, all parts together
    max_elements: int  # XML elements or JSON values, all parts together
    limit_error: type[Exception]  # raised when a bound is passed
    spent_bytes: int = 0
    spent_elements: int = 0

    def charge_bytes(self, n: int) -> None:
        self.spent_bytes += n
        if self.spent_bytes > self.max_bytes:
            raise self.limit_error(
                f"report data decompresses to more than {self.max_bytes} bytes in this message"
            )

    def charge_elements(self, n: int, what: str = "elements") -> None:
        self.spent_elements += n
        if self.spent_elements > self.max_elements:
            raise self.limit_error(f"more than {self.max_elements} {what} in this message")
