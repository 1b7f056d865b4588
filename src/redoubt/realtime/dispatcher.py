"""This process's fan-out: position order, resume buffer, membership index.

Events reach :meth:`Dispatcher.on_events` from the bus in any order, possibly twice.
The dispatcher delivers them strictly in position order: an event that arrives early
waits; a gap that isn't filled within ``gap_timeout`` seconds is read from the
database (it was committed: positions are taken under a row lock, so a later position
implies the earlier one committed). A poll of the stream position catches events that
were committed but never published (a crashed publisher, the CLI).

Delivery costs one dict lookup per event and one queue append per receiver: the frame
was serialised once, at write time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence

from prometheus_client import Counter, Gauge

from redoubt.core.logging import get_logger
from redoubt.domain.events import EventType
from redoubt.realtime.bus import EphemeralEvent
from redoubt.realtime.connection import Connection
from redoubt.storage.database import StoredEvent

__all__ = ["CLOSE_DEACTIVATED", "CLOSE_SESSION_ENDED", "Dispatcher"]

CLOSE_DEACTIVATED = 4003
CLOSE_SESSION_ENDED = 4401

_log = get_logger(__name__)
_DELIVERIES = Counter("redoubt_ws_deliveries_total", "Frames queued to WebSocket clients")
_CONNECTIONS = Gauge("redoubt_ws_connections", "Open WebSocket connections")
_GAP_FILLS = Counter("redoubt_event_gap_fills_total", "Events read from the DB to fill gaps")

FetchBetween = Callable[[int, int], Awaitable[list[StoredEvent]]]
FetchPosition = Callable[[], Awaitable[int]]


class Dispatcher:
    def __init__(
        self,
        *,
        fetch_between: FetchBetween,
        fetch_position: FetchPosition,
        replay_buffer: int,
        gap_timeout: float = 0.2,
        poll_interval: float = 1.0,
    ) -> None:
        self._fetch_between = fetch_between
        self._fetch_position = fetch_position
        self._gap_timeout = gap_timeout
        self._poll_interval = poll_interval
        self.last_seq = 0
        self.ring: deque[StoredEvent] = deque(maxlen=max(replay_buffer, 1))
        self._early: dict[int, StoredEvent] = {}
        self._by_room: dict[int, set[Connection]] = defaultdict(set)
        self._by_user: dict[int, set[Connection]] = defaultdict(set)
        self._all: set[Connection] = set()
        self._syncing: set[Connection] = set()
        self._gap_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self.on_user_online: Callable[[int, bool], None] | None = None
        self._moved: asyncio.Event = asyncio.Event()
        """Set (and replaced) each time :attr:`last_seq` advances."""

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self.last_seq = await self._fetch_position()
        self._poll_task = asyncio.create_task(self._poll(), name="dispatcher-poll")

    async def stop(self) -> None:
        for task in (self._gap_task, self._poll_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for conn in list(self._all | self._syncing):
            conn.close_soon(1001, "server shutting down")

    # --- ordering ------------------------------------------------------------------

    def on_events(self, events: Sequence[StoredEvent]) -> None:
        """Accept events from the bus, in any order, with duplicates."""
        for event in events:
            if event.seq > self.last_seq:
                self._early[event.seq] = event
        self._drain()

    def _drain(self) -> None:
        early = self._early
        before = self.last_seq
        while (event := early.pop(self.last_seq + 1, None)) is not None:
            self._process(event)
        if self.last_seq != before:
            self._moved.set()
            self._moved = asyncio.Event()
        if early and (self._gap_task is None or self._gap_task.done()):
            self._gap_task = asyncio.create_task(self._fill_gap(), name="dispatcher-gap")

    async def wait_beyond(self, seq: int, *, unless: asyncio.Event | None = None) -> None:
        """Return once :attr:`last_seq` is past ``seq`` or ``unless`` is set (long polls
        wake on the event that concerns them instead of checking on a timer; callers
        bound the wait with ``asyncio.timeout``)."""
        if self.last_seq > seq or (unless is not None and unless.is_set()):
            return
        waits = [asyncio.ensure_future(self._moved.wait())]
        if unless is not None:
            waits.append(asyncio.ensure_future(unless.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _fill_gap(self) -> None:
        await asyncio.sleep(self._gap_timeout)
        while self._early:
            before = self.last_seq
            missing = await self._fetch_between(before, max(self._early))
            _GAP_FILLS.inc(len(missing))
            self.on_events(missing)
            if self.last_seq == before:
                # Not visible yet (or not there at all): wait rather than spin.
                await asyncio.sleep(self._gap_timeout)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                position = await self._fetch_position()
                if position > self.last_seq and not self._early:
                    self.on_events(await self._fetch_between(self.last_seq, position))
            except Exception:
                _log.exception("dispatcher_poll_failed")

    # --- delivery ------------------------------------------------------------------

    def _process(self, event: StoredEvent) -> None:
        self.last_seq = event.seq
        self.ring.append(event)
        for conn in self._syncing:
            if conn.pending is not None:
                conn.pending.append(event)
        targets = self._targets_and_update(event)
        frame = event.frame
        for conn in targets:
            conn.enqueue(frame)
        _DELIVERIES.inc(len(targets))
        if event.type == EventType.USER_UPDATED:
            self._close_if_deactivated(event)
        elif event.type == EventType.SESSION_ENDED and event.user_id is not None:
            for conn in list(self._by_user.get(event.user_id, ())):
                _close_if_session_ended(conn, event)

    def _targets_and_update(self, event: StoredEvent) -> Collection[Connection]:
        if event.broadcast:
            return self._all
        targets: set[Connection] = set()
        if event.room_id is not None:
            if event.type == EventType.MEMBER_ADDED and event.user_id is not None:
                for conn in self._by_user.get(event.user_id, ()):
                    conn.room_ids.add(event.room_id)
                    self._by_room[event.room_id].add(conn)
            targets = set(self._by_room.get(event.room_id, ()))
        if event.user_id is not None:
            targets |= self._by_user.get(event.user_id, set())
            if event.type == EventType.MEMBER_REMOVED and event.room_id is not None:
                room_conns = self._by_room.get(event.room_id)
                for conn in self._by_user.get(event.user_id, ()):
                    conn.room_ids.discard(event.room_id)
                    if room_conns is not None:
                        room_conns.discard(conn)
        return targets

    def _close_if_deactivated(self, event: StoredEvent) -> None:
        user_id = _deactivated_user(event)
        if user_id is not None:
            for conn in list(self._by_user.get(user_id, ())):
                conn.close_soon(CLOSE_DEACTIVATED, "account deactivated")

    def on_ephemeral(self, event: EphemeralEvent) -> None:
        targets = self._all if event.room_id is None else self._by_room.get(event.room_id, ())
        for conn in targets:
            conn.enqueue(event.frame)

    # --- connections ----------------------------------------------------------------

    def begin_sync(self, conn: Connection) -> int:
        """Start holding live events for ``conn``; returns the position it resumes to."""
        conn.pending = []
        self._syncing.add(conn)
        return self.last_seq

    def replay_from_ring(self, after: int, upto: int) -> list[StoredEvent] | None:
        """Events in ``(after, upto]`` from memory, or None when the ring doesn't reach."""
        if after >= upto:
            return []
        if not self.ring or self.ring[0].seq > after + 1:
            return None
        start = after + 1 - self.ring[0].seq
        return [self.ring[i] for i in range(start, start + (upto - after))]

    def go_live(self, conn: Connection) -> None:
        """Deliver what was held, then join the live index (no await in between)."""
        self._syncing.discard(conn)
        held, conn.pending = conn.pending or [], None
        for event in held:
            if _accepts(conn, event):
                conn.enqueue(event.frame)
            if event.type == EventType.USER_UPDATED and _deactivated_user(event) == conn.user_id:
                conn.close_soon(CLOSE_DEACTIVATED, "account deactivated")
            elif event.type == EventType.SESSION_ENDED and event.user_id == conn.user_id:
                _close_if_session_ended(conn, event)
        first = not self._by_user.get(conn.user_id)
        self._all.add(conn)
        self._by_user[conn.user_id].add(conn)
        for room_id in conn.room_ids:
            self._by_room[room_id].add(conn)
        _CONNECTIONS.inc()
        if first and self.on_user_online is not None:
            self.on_user_online(conn.user_id, True)

    def remove(self, conn: Connection) -> None:
        self._syncing.discard(conn)
        if conn not in self._all:
            return
        self._all.discard(conn)
        user_conns = self._by_user.get(conn.user_id)
        if user_conns is not None:
            user_conns.discard(conn)
            if not user_conns:
                del self._by_user[conn.user_id]
                if self.on_user_online is not None:
                    self.on_user_online(conn.user_id, False)
        for room_id in conn.room_ids:
            room_conns = self._by_room.get(room_id)
            if room_conns is not None:
                room_conns.discard(conn)
                if not room_conns:
                    del self._by_room[room_id]
        _CONNECTIONS.dec()

    def online_user_ids(self) -> list[int]:
        return sorted(self._by_user)

    def connections_of(self, user_id: int) -> set[Connection]:
        return set(self._by_user.get(user_id, ()))


def _accepts(conn: Connection, event: StoredEvent) -> bool:
    """The single-connection form of :meth:`Dispatcher._targets_and_update`."""
    if event.broadcast:
        return True
    mine = event.user_id == conn.user_id
    if event.type == EventType.MEMBER_ADDED and mine and event.room_id is not None:
        conn.room_ids.add(event.room_id)
    deliver = mine or (event.room_id is not None and event.room_id in conn.room_ids)
    if event.type == EventType.MEMBER_REMOVED and mine and event.room_id is not None:
        conn.room_ids.discard(event.room_id)
    return deliver


def _close_if_session_ended(conn: Connection, event: StoredEvent) -> None:
    ended = json.loads(event.frame)["data"].get("session_id")
    if ended is None or (conn.session_id is not None and str(conn.session_id) == ended):
        conn.close_soon(CLOSE_SESSION_ENDED, "session ended")


def _deactivated_user(event: StoredEvent) -> int | None:
    """The user a ``user.updated`` event deactivates, if it does."""
    data = json.loads(event.frame)["data"]
    return int(data["id"]) if data.get("is_active") is False else None


def replay_filter(conn: Connection, events: Iterable[StoredEvent]) -> list[str]:
    """Frames of the events a resuming connection should get, in order.

    ``conn.room_ids`` must hold the user's rooms as of just before the first event; it
    follows the user's joins and removals along the way, so a room's events count only
    while the user was in it (as live delivery would have had it).
    """
    return [e.frame for e in events if _accepts(conn, e)]
