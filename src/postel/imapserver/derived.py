"""ENVELOPE, BODY and BODYSTRUCTURE answers kept for recently fetched messages,
shared by every session of the process: message files never change, so an
answer stays right until the message is gone (then it is never asked for).

A stopgap until the store keeps each message's structure from delivery on;
bounded by entries, least recently used dropped first."""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_ENTRIES = 30_000  # about 10 MB for typical messages


class DerivedCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, account: str, msgid: int, item: str) -> bytes | None:
        key = (account, msgid, item)
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, account: str, msgid: int, item: str, value: bytes) -> None:
        with self._lock:
            self._items[(account, msgid, item)] = value
            self._items.move_to_end((account, msgid, item))
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
