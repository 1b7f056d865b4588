"""The event bus contract, run against every backend (MemoryBus and RedisBus).

The parametrised fixture yields a (publisher, subscriber) pair: the memory bus publishes
to itself; a Redis bus is tested both publishing to its own subscriber (the local
shortcut) and to another bus instance over Redis (another process). Redis is a real
server; when it can't be reached these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from redoubt.realtime.bus import EphemeralEvent, EventBus, MemoryBus
from redoubt.realtime.redis_bus import RedisBus
from redoubt.storage.database import StoredEvent
from tests.harness import REDIS_URL

pytestmark = pytest.mark.timeout(30)


@dataclass
class Received:
    events: list[StoredEvent] = field(default_factory=list)
    ephemeral: list[EphemeralEvent] = field(default_factory=list)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.events.extend, self.ephemeral.append)

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def event(seq: int, *, room_id: int | None = 7, user_id: int | None = None) -> StoredEvent:
    data = json.dumps({"n": seq, "text": 'héllo "quoted" \\ ✓'}, ensure_ascii=False)
    frame = f'{{"seq":{seq},"type":"test.event","data":{data}}}'
    return StoredEvent(seq, "test.event", room_id, user_id, seq % 5 == 0, frame)


@dataclass
class Deployment:
    """Makes buses that belong to one deployment (share one channel)."""

    kind: str
    channel: str = field(default_factory=lambda: f"test:{uuid.uuid4().hex}:bus")
    clients: list[Redis] = field(default_factory=list)
    buses: list[EventBus] = field(default_factory=list)
    client_name: str = field(default_factory=lambda: f"redoubt-test-{uuid.uuid4().hex[:12]}")

    def new_bus(self) -> EventBus:
        if self.kind == "memory":
            bus: EventBus = MemoryBus()
        else:
            redis = Redis.from_url(REDIS_URL, client_name=self.client_name)
            self.clients.append(redis)
            bus = RedisBus(redis, channel=self.channel, min_backoff=0.02, max_backoff=0.2)
        self.buses.append(bus)
        return bus

    async def close(self) -> None:
        for bus in self.buses:
            await bus.stop()
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def deployment() -> AsyncIterator[Deployment]:
    dep = Deployment("redis")
    try:
        yield dep
    finally:
        await dep.close()


@pytest.fixture(params=["memory", "redis-local", "redis-remote"])
async def pair(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[EventBus, EventBus, Received]]:
    """(publisher, subscriber, what the subscriber received), both started."""
    dep = Deployment("memory" if request.param == "memory" else "redis")
    try:
        subscriber = dep.new_bus()
        publisher = dep.new_bus() if request.param == "redis-remote" else subscriber
        received = Received()
        received.attach(subscriber)
        if publisher is not subscriber:
            # The other process has its own consumer; it must not see anything twice.
            publisher.subscribe(lambda _events: None, lambda _event: None)
        await subscriber.start()
        if publisher is not subscriber:
            await publisher.start()
        yield publisher, subscriber, received
    finally:
        await dep.close()


# --- the contract, for every backend --------------------------------------------------


async def test_events_arrive_in_order_and_intact(
    pair: tuple[EventBus, EventBus, Received],
) -> None:
    publisher, _subscriber, received = pair
    sent: list[StoredEvent] = []
    seq = 0
    for batch_size in [1, 3, 1, 5, 2, 4] * 10:
        batch = [event(seq + i + 1, user_id=seq or None) for i in range(batch_size)]
        seq += batch_size
        sent.extend(batch)
        await publisher.publish(batch)
    await eventually(lambda: len(received.events) >= len(sent))
    assert received.events == sent


async def test_concurrent_publishes_keep_each_batch_in_order(
    pair: tuple[EventBus, EventBus, Received],
) -> None:
    publisher, _subscriber, received = pair
    batches = [[event(b * 10 + i) for i in range(1, 6)] for b in range(20)]
    await asyncio.gather(*(publisher.publish(batch) for batch in batches))
    await eventually(lambda: len(received.events) >= 100)
    assert sorted(received.seqs) == sorted(e.seq for batch in batches for e in batch)
    for batch in batches:
        positions = [received.seqs.index(e.seq) for e in batch]
        assert positions == sorted(positions)


async def test_ephemeral_events_arrive(pair: tuple[EventBus, EventBus, Received]) -> None:
    publisher, _subscriber, received = pair
    sent = [
        EphemeralEvent('{"type":"typing","data":{"room_id":"42","user":"ü"}}', 42),
        EphemeralEvent('{"type":"presence","data":{"status":"online"}}', None),
    ]
    for item in sent:
        await publisher.publish_ephemeral(item)
    await eventually(lambda: len(received.ephemeral) >= 2)
    assert received.ephemeral == sent
    assert received.events == []


async def test_stop_and_start_again(pair: tuple[EventBus, EventBus, Received]) -> None:
    publisher, subscriber, received = pair
    await publisher.publish([event(1)])
    await eventually(lambda: received.seqs == [1])
    await subscriber.stop()
    await subscriber.stop()  # idempotent
    await subscriber.start()
    await subscriber.start()  # idempotent
    # start() returns only once the subscription is live: an immediate publish arrives.
    await publisher.publish([event(2)])
    await publisher.publish_ephemeral(EphemeralEvent("{}", None))
    await eventually(lambda: received.seqs == [1, 2] and len(received.ephemeral) == 1)


async def test_publishing_with_no_events_is_a_no_op(
    pair: tuple[EventBus, EventBus, Received],
) -> None:
    publisher, _subscriber, received = pair
    await publisher.publish([])
    await publisher.publish([event(1)])
    await eventually(lambda: received.seqs == [1])
    assert received.events == [event(1)]


# --- Redis: several processes, outages ------------------------------------------------


async def test_two_processes_both_receive_what_either_publishes(deployment: Deployment) -> None:
    a, b = deployment.new_bus(), deployment.new_bus()
    got_a, got_b = Received(), Received()
    got_a.attach(a)
    got_b.attach(b)
    await a.start()
    await b.start()
    for seq in range(1, 41):
        await (a if seq % 3 else b).publish([event(seq)])
    await a.publish_ephemeral(EphemeralEvent('{"from":"a"}', None))
    await b.publish_ephemeral(EphemeralEvent('{"from":"b"}', 3))
    await eventually(
        lambda: (
            len(got_a.events) >= 40
            and len(got_b.events) >= 40
            and len(got_a.ephemeral) >= 2
            and len(got_b.ephemeral) >= 2
        )
    )
    await asyncio.sleep(0.1)  # anything duplicated would have arrived by now
    for got in (got_a, got_b):
        # Exactly once each (a bus skips its own messages coming back from Redis); the
        # order across publishers is the dispatcher's job, so compare as sets here.
        assert sorted(got.seqs) == list(range(1, 41))
        assert sorted(e.frame for e in got.ephemeral) == ['{"from":"a"}', '{"from":"b"}']


async def test_subscriber_reconnects_after_the_connection_drops(deployment: Deployment) -> None:
    a, b = deployment.new_bus(), deployment.new_bus()
    got = Received()
    got.attach(a)
    b.subscribe(lambda _e: None, lambda _e: None)
    await a.start()
    await b.start()
    await b.publish([event(1)])
    await eventually(lambda: got.seqs == [1])

    admin = Redis.from_url(REDIS_URL)
    try:
        # Kill this test's subscriber connections (and only them).
        clients = await admin.client_list()
        ours = [c for c in clients if c.get("name") == deployment.client_name and int(c["sub"]) > 0]
        assert len(ours) == 2
        for client in ours:
            await admin.client_kill_filter(_id=client["id"])
    finally:
        await admin.aclose()

    # Events published while the subscription is down are lost (the dispatcher reads
    # them from the database); keep publishing until one arrives after the reconnect.
    seq = 1
    deadline = time.monotonic() + 10
    while got.seqs[-1] == 1:
        assert time.monotonic() < deadline, "the subscriber never came back"
        seq += 1
        await b.publish([event(seq)])
        await asyncio.sleep(0.05)
    await b.publish([event(seq + 1)])
    await eventually(lambda: got.seqs[-1] == seq + 1)


class Proxy:
    """A TCP proxy to Redis that the test can take down and bring back (an outage)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()


async def test_subscriber_survives_a_redis_outage(deployment: Deployment) -> None:
    proxy = Proxy()
    await proxy.start()
    behind = Redis.from_url(f"redis://127.0.0.1:{proxy.port}/0")
    a = RedisBus(behind, channel=deployment.channel, min_backoff=0.05, max_backoff=0.2)
    b = deployment.new_bus()
    got = Received()
    got.attach(a)
    b.subscribe(lambda _e: None, lambda _e: None)
    try:
        await a.start()
        await b.start()
        await b.publish([event(1)])
        await eventually(lambda: got.seqs == [1])

        await proxy.stop()  # Redis unreachable: connections cut, connects refused
        await asyncio.sleep(0.5)
        await a.publish([event(2)])  # no exception; local delivery still works
        assert got.seqs == [1, 2]
        await proxy.start()  # back, same port

        seq = 2
        deadline = time.monotonic() + 15
        while got.seqs[-1] == 2:
            assert time.monotonic() < deadline, "the subscriber never came back"
            seq += 1
            await b.publish([event(seq)])
            await asyncio.sleep(0.05)
    finally:
        await a.stop()
        await behind.aclose()
        await proxy.stop()


async def test_start_fails_clearly_when_redis_is_unreachable() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    bus = RedisBus(redis, channel=f"test:{uuid.uuid4().hex}:bus")
    try:
        with pytest.raises(RedisError):
            await bus.start()
    finally:
        await bus.stop()
        await redis.aclose()


async def test_publish_during_an_outage_still_reaches_local_clients() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    bus = RedisBus(redis, channel=f"test:{uuid.uuid4().hex}:bus", publish_timeout=0.5)
    got = Received()
    got.attach(bus)
    try:
        # No exception: the commit stands and other processes catch up from the database.
        await bus.publish([event(1), event(2)])
        await bus.publish_ephemeral(EphemeralEvent("{}", None))
        assert got.seqs == [1, 2]
        assert len(got.ephemeral) == 1
    finally:
        await redis.aclose()


async def test_malformed_messages_are_dropped_not_fatal(deployment: Deployment) -> None:
    bus = deployment.new_bus()
    got = Received()
    got.attach(bus)
    await bus.start()
    raw = Redis.from_url(REDIS_URL)
    try:
        for junk in [
            "not json",
            "[]",
            '["x","e",[[1,2]]]',
            '["x","q"]',
            '["x","e",[["1","t",null,null,false,"{}"]]]',
        ]:
            await raw.publish(deployment.channel, junk)
        await raw.publish(
            deployment.channel, json.dumps(["x", "e", [[5, "t", None, 9, True, "{}"]]])
        )
    finally:
        await raw.aclose()
    await eventually(lambda: got.seqs == [5])
    assert got.events == [StoredEvent(5, "t", None, 9, True, "{}")]
