"""One client's outgoing side: a bounded queue drained by its own writer task.

Fan-out only appends a pre-serialised frame to each queue, so a slow client never
delays the others. A client whose queue overflows is disconnected; it reconnects with
its last position and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from redoubt.storage.database import StoredEvent

__all__ = ["CLOSE_TOO_SLOW", "Connection"]

CLOSE_TOO_SLOW = 4008
_CLOSE_GRACE = 2.0
"""Seconds the queued frames and the close frame get once a close was asked for."""

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class Connection:
    __slots__ = (
        "_close",
        "_closing",
        "_queue",
        "_send",
        "_wakeup",
        "_writer",
        "max_queue",
        "pending",
        "read_only",
        "room_ids",
        "session_id",
        "user_id",
    )

    def __init__(
        self,
        *,
        user_id: int,
        session_id: int | None,
        send_text: SendText,
        close: Close,
        max_queue: int,
    ) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.room_ids: set[int] = set()
        self.read_only = False
        """A quarantined bot's stream (T7): it receives events, its frames can't act."""
        self.pending: list[StoredEvent] | None = None
        """Events held while the connection catches up (None once live)."""
        self.max_queue = max_queue
        self._send = send_text
        self._close = close
        self._queue: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name=f"ws-writer-{self.user_id}")

    def enqueue(self, frame: str) -> None:
        """Queue a frame; never blocks. Overflow schedules a disconnect."""
        if self._closing is not None:
            return
        if len(self._queue) >= self.max_queue:
            self.close_soon(CLOSE_TOO_SLOW, "too slow; reconnect with your last position")
            return
        self._queue.append(frame)
        self._wakeup.set()

    def close_soon(self, code: int, reason: str) -> None:
        """Stop sending and close after the frames already queued are out."""
        if self._closing is None:
            self._closing = (code, reason)
            self._wakeup.set()

    @property
    def closing(self) -> bool:
        return self._closing is not None

    async def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    await self._send(queue.popleft())
                if self._closing is not None:
                    code, reason = self._closing
                    await self._close(code, reason)
                    return
        except (Exception, asyncio.CancelledError):
            # The peer went away (or the server is stopping): nothing left to send.
            return

    async def stop(self) -> None:
        """End the writer; a close asked for with :meth:`close_soon` still goes out.

        The reader may stop first (too many bad frames): without the grace period the
        writer would be cancelled before sending the close frame and its code.
        """
        writer = self._writer
        if writer is None:
            return
        if self._closing is not None and not writer.done():
            await asyncio.wait({writer}, timeout=_CLOSE_GRACE)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
