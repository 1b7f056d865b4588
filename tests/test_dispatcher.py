"""Unit tests of the Dispatcher: position order, gap filling, slow clients.

The database is replaced by fake fetchers over an in-memory "committed" list; clients
are real :class:`Connection` objects whose transport records what it was sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from redoubt.domain.events import EventType
from redoubt.realtime.connection import CLOSE_TOO_SLOW, Connection
from redoubt.realtime.dispatcher import CLOSE_DEACTIVATED, Dispatcher
from redoubt.storage.database import StoredEvent, build_frame

ROOM = 7
OTHER_ROOM = 8


def message(seq: int, room_id: int = ROOM) -> StoredEvent:
    data = json.dumps({"id": str(seq), "room_id": str(room_id), "text": f"m{seq}"})
    frame = build_frame(seq, EventType.MESSAGE_CREATED.value, data)
    return StoredEvent(seq, EventType.MESSAGE_CREATED.value, room_id, None, False, frame)


def deactivation(seq: int, user_id: int) -> StoredEvent:
    data = json.dumps({"id": str(user_id), "is_active": False})
    frame = build_frame(seq, EventType.USER_UPDATED.value, data)
    return StoredEvent(seq, EventType.USER_UPDATED.value, None, None, True, frame)


@dataclass
class FakeStore:
    """What the database would answer: the committed events."""

    committed: dict[int, StoredEvent] = field(default_factory=dict)
    calls: list[tuple[int, int]] = field(default_factory=list)

    def commit(self, *events: StoredEvent) -> None:
        for e in events:
            self.committed[e.seq] = e

    async def fetch_between(self, after: int, upto: int) -> list[StoredEvent]:
        self.calls.append((after, upto))
        return [self.committed[s] for s in sorted(self.committed) if after < s <= upto]

    async def fetch_position(self) -> int:
        return 0


@dataclass
class Client:
    """A connection whose transport records frames; ``delay`` makes it slow."""

    user_id: int
    delay: float = 0.0
    frames: list[str] = field(default_factory=list)
    closed: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    conn: Connection | None = None

    async def send_text(self, data: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.frames.append(data)

    async def close(self, code: int, reason: str) -> None:
        del reason
        if not self.closed.done():
            self.closed.set_result(code)

    def seqs(self) -> list[int]:
        return [json.loads(f)["seq"] for f in self.frames]


@pytest.fixture
async def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def dispatcher(store: FakeStore) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(
        fetch_between=store.fetch_between,
        fetch_position=store.fetch_position,
        replay_buffer=100,
        gap_timeout=0.05,
        poll_interval=3600,
    )
    await d.start()
    yield d
    await d.stop()


async def connect(
    d: Dispatcher, user_id: int, *, rooms: set[int], delay: float = 0.0, max_queue: int = 1000
) -> Client:
    client = Client(user_id, delay)
    conn = Connection(
        user_id=user_id,
        session_id=None,
        send_text=client.send_text,
        close=client.close,
        max_queue=max_queue,
    )
    client.conn = conn
    d.begin_sync(conn)
    conn.room_ids = set(rooms)
    conn.start()
    d.go_live(conn)
    return client


async def until(condition: Callable[[], object]) -> None:
    """Wait (at most 2 s) for a condition on state that has no change notification."""
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 - polling plain attributes
            await asyncio.sleep(0.002)


async def test_out_of_order_and_duplicates_are_delivered_once_in_order(
    dispatcher: Dispatcher, store: FakeStore
) -> None:
    events = [message(s) for s in range(1, 9)]
    store.commit(*events)
    client = await connect(dispatcher, 1, rooms={ROOM})
    dispatcher.on_events([events[2], events[0]])  # 3 waits for 2
    dispatcher.on_events([events[1], events[0], events[2]])  # 1 and 3 again
    dispatcher.on_events([events[5], events[4], events[3]])
    dispatcher.on_events([events[7], events[6], events[5], events[7]])
    dispatcher.on_events(events)  # all of them, once more
    await until(lambda: len(client.frames) >= 8)
    await asyncio.sleep(0.1)  # two gap timeouts: nothing more arrives
    assert client.seqs() == list(range(1, 9))
    assert store.calls == []  # no gap lasted long enough to need the database
    assert dispatcher.last_seq == 8


async def test_a_gap_is_filled_from_the_database_after_the_timeout(
    dispatcher: Dispatcher, store: FakeStore
) -> None:
    events = [message(s) for s in range(1, 7)]
    store.commit(*events)
    client = await connect(dispatcher, 1, rooms={ROOM})
    dispatcher.on_events([events[0], events[3], events[5]])  # 2, 3 and 5 were lost
    await until(lambda: len(client.frames) >= 1)
    await asyncio.sleep(0.01)
    assert client.seqs() == [1]  # 4 and 6 wait for the gap
    await until(lambda: len(client.frames) >= 6)
    assert client.seqs() == [1, 2, 3, 4, 5, 6]
    assert store.calls[0] == (1, 6)


async def test_a_gap_not_yet_readable_is_retried(dispatcher: Dispatcher, store: FakeStore) -> None:
    """The database doesn't show the missing events yet (a lagging read): ask again."""
    events = [message(s) for s in range(1, 4)]
    store.commit(events[0])
    client = await connect(dispatcher, 1, rooms={ROOM})
    dispatcher.on_events([events[0], events[2]])
    await until(lambda: len(store.calls) >= 2)
    assert store.calls[:2] == [(1, 3), (1, 3)]
    assert client.seqs() == [1]
    store.commit(events[1], events[2])
    await until(lambda: len(client.frames) >= 3)
    assert client.seqs() == [1, 2, 3]


async def test_a_slow_client_is_closed_without_affecting_the_others(
    dispatcher: Dispatcher, store: FakeStore
) -> None:
    slow = await connect(dispatcher, 1, rooms={ROOM}, delay=0.02, max_queue=10)
    fast = [await connect(dispatcher, u, rooms={ROOM}) for u in (2, 3)]
    events = [message(s) for s in range(1, 101)]
    store.commit(*events)
    for e in events:
        dispatcher.on_events([e])
        await asyncio.sleep(0)  # fast clients drain between events
    for client in fast:
        frames = client.frames
        await until(lambda: len(frames) == 100)  # noqa: B023 - awaited in this iteration
        assert client.seqs() == list(range(1, 101))
        assert not client.closed.done()
    assert await asyncio.wait_for(slow.closed, 2) == CLOSE_TOO_SLOW
    # What the slow client did get is a gapless prefix: it resumes from its last seq.
    got = slow.seqs()
    assert got == list(range(1, len(got) + 1))
    assert len(got) < 100


async def test_room_events_reach_members_only(dispatcher: Dispatcher, store: FakeStore) -> None:
    member = await connect(dispatcher, 1, rooms={ROOM})
    outsider = await connect(dispatcher, 2, rooms={OTHER_ROOM})
    store.commit(message(1), message(2, OTHER_ROOM))
    dispatcher.on_events([message(1), message(2, OTHER_ROOM)])
    await until(lambda: member.frames and outsider.frames)
    assert member.seqs() == [1]
    assert outsider.seqs() == [2]


async def test_events_held_during_sync_are_delivered_after_the_replay(
    dispatcher: Dispatcher, store: FakeStore
) -> None:
    """Between ``begin_sync`` and ``go_live`` events are held, then sent in order."""
    client = Client(1)
    conn = Connection(
        user_id=1, session_id=None, send_text=client.send_text, close=client.close, max_queue=100
    )
    assert dispatcher.begin_sync(conn) == 0
    conn.room_ids = {ROOM}
    dispatcher.on_events([message(1), message(2), message(3, OTHER_ROOM)])
    conn.start()
    dispatcher.go_live(conn)
    dispatcher.on_events([message(4)])
    await until(lambda: len(client.frames) >= 3)
    assert client.seqs() == [1, 2, 4]


async def test_a_deactivation_held_during_sync_closes_the_connection(
    dispatcher: Dispatcher,
) -> None:
    client = Client(5)
    conn = Connection(
        user_id=5, session_id=None, send_text=client.send_text, close=client.close, max_queue=100
    )
    dispatcher.begin_sync(conn)
    dispatcher.on_events([deactivation(1, 5)])
    conn.start()
    dispatcher.go_live(conn)
    assert await asyncio.wait_for(client.closed, 2) == CLOSE_DEACTIVATED


async def test_replay_from_ring_reaches_back_only_as_far_as_it_holds(store: FakeStore) -> None:
    d = Dispatcher(
        fetch_between=store.fetch_between,
        fetch_position=store.fetch_position,
        replay_buffer=5,
        poll_interval=3600,
    )
    await d.start()
    try:
        d.on_events([message(s) for s in range(1, 21)])
        assert [e.seq for e in d.replay_from_ring(15, 20) or []] == [16, 17, 18, 19, 20]
        assert [e.seq for e in d.replay_from_ring(18, 20) or []] == [19, 20]
        assert d.replay_from_ring(14, 20) is None
        assert d.replay_from_ring(20, 20) == []
    finally:
        await d.stop()
