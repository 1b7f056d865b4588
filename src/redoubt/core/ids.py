"""Time-ordered 52-bit integer ids.

One id scheme serves every table. The REST API exposes ids as opaque decimal strings;
the Telegram-compatible Bot API needs positive integers that fit in 52 bits (so that
JavaScript clients and the negated group ids both stay exact). Layout, most significant
first::

    42 bits  milliseconds since 2025-01-01T00:00:00Z   (~139 years)
     4 bits  node number (0 in the embedded default; one per process in scale-out)
     6 bits  sequence within the millisecond

When the 64 ids of one millisecond are used up the generator borrows the next
millisecond, so ids stay unique and increasing within one process under any load.
"""

from __future__ import annotations

import threading
import time

__all__ = ["ID_BITS", "MAX_ID", "IdGenerator", "format_id", "parse_id"]

ID_BITS = 52
MAX_ID = (1 << ID_BITS) - 1
_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_NODE_BITS = 4
_SEQ_BITS = 6
_MAX_ID_CHARS = 16


class IdGenerator:
    """Thread-safe generator of unique, increasing 52-bit ids for one node."""

    def __init__(self, node: int = 0) -> None:
        if not 0 <= node < (1 << _NODE_BITS):
            raise ValueError(f"node must be in [0, {1 << _NODE_BITS})")
        self._node = node
        self._lock = threading.Lock()
        self._last_ms = 0
        self._seq = 0

    @property
    def node(self) -> int:
        return self._node

    def set_node(self, node: int) -> None:
        """Switch to another node number (scale-out: the number leased in Redis).

        Ids stay increasing: the next one starts a fresh millisecond.
        """
        if not 0 <= node < (1 << _NODE_BITS):
            raise ValueError(f"node must be in [0, {1 << _NODE_BITS})")
        with self._lock:
            if node != self._node:
                self._node = node
                self._last_ms += 1
                self._seq = 0

    def next_id(self) -> int:
        """Return a new id, greater than every id this generator returned before."""
        with self._lock:
            now = int(time.time() * 1000) - _EPOCH_MS
            if now > self._last_ms:
                self._last_ms = now
                self._seq = 0
            else:
                self._seq += 1
                if self._seq >= (1 << _SEQ_BITS):
                    self._last_ms += 1
                    self._seq = 0
            return (
                (self._last_ms << (_NODE_BITS + _SEQ_BITS)) | (self._node << _SEQ_BITS) | self._seq
            )


def format_id(value: int) -> str:
    """Render an id the way the REST API shows it."""
    return str(value)


def parse_id(value: str) -> int | None:
    """Parse an id string from a client; None when it can't be an id of ours."""
    if not value or len(value) > _MAX_ID_CHARS or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    if number <= 0 or number > MAX_ID:
        return None
    return number
