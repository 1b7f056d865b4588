"""Event fan-out between server processes over Redis pub/sub (scale-out).

Why pub/sub rather than Redis streams: the bus is allowed to lose messages. Every
committed event is in the database, and each dispatcher fills gaps from there and polls
the stream position, so a dropped message costs latency, never an event. Fire-and-forget
pub/sub gives the lowest latency and leaves nothing to trim in Redis.

Each bus delivers what its own process publishes straight to the local subscriber (no
Redis round trip, and local clients keep getting events while Redis is away) and
publishes it for the other processes; on receipt it skips its own messages by origin.

Wire format, compact JSON (``frame`` is the exact client frame, already JSON text)::

    [origin, "e", [[seq, type, room_id, user_id, broadcast, frame], ...]]   committed
    [origin, "x", frame, room_id]                                          ephemeral
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from typing_extensions import override

from redoubt.core.logging import describe_error, get_logger
from redoubt.realtime.bus import EphemeralEvent, EventBus
from redoubt.storage.database import StoredEvent

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["DEFAULT_CHANNEL", "RedisBus"]

DEFAULT_CHANNEL = "redoubt:bus"

_log = get_logger(__name__)
_EVENTS = "e"
_EPHEMERAL = "x"
_EVENT_FIELDS = 6


class _Silence(ConnectionError):
    """The subscription stopped answering keepalive pings (a half-open connection)."""


class RedisBus(EventBus):
    """:class:`EventBus` over one Redis pub/sub channel shared by every process.

    Args:
        redis: The client (its pool is shared with the rate limiter).
        channel: One channel per deployment: pub/sub channels are global to a Redis
            server, not per database number, so deployments sharing a Redis must differ.
        publish_timeout: Give up on one publish after this many seconds (the writer
            awaits the publish; a hung Redis must not hang requests).
        keepalive: Ping the subscription after this many idle seconds; no answer
            within another ``keepalive`` seconds counts as a dropped connection.
        min_backoff: First reconnect delay; doubles per failed attempt up to ``max_backoff``.
        max_backoff: Longest reconnect delay.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        channel: str = DEFAULT_CHANNEL,
        publish_timeout: float = 1.0,
        keepalive: float = 5.0,
        min_backoff: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__()
        self._redis = redis
        self._channel = channel
        self._publish_timeout = publish_timeout
        self._keepalive = keepalive
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # Identifies this bus's own messages when they come back from Redis.
        self._origin = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self._publish_failing = False

    # --- lifecycle -------------------------------------------------------------------

    @override
    async def start(self) -> None:
        """Subscribe; returns once Redis confirmed the subscription.

        Raises:
            redis.exceptions.RedisError: Redis can't be reached (the server must not
                start half-connected; later outages are retried instead).
        """
        if self._task is not None:
            return
        pubsub = await self._subscribe()
        self._task = asyncio.create_task(self._run(pubsub), name="redis-bus")

    @override
    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # --- publishing ------------------------------------------------------------------

    @override
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        if self._on_events is not None:
            self._on_events(events)
        rows = [[e.seq, e.type, e.room_id, e.user_id, e.broadcast, e.frame] for e in events]
        await self._send(_dumps([self._origin, _EVENTS, rows]))

    @override
    async def publish_ephemeral(self, event: EphemeralEvent) -> None:
        if self._on_ephemeral is not None:
            self._on_ephemeral(event)
        await self._send(_dumps([self._origin, _EPHEMERAL, event.frame, event.room_id]))

    async def _send(self, payload: str) -> None:
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._redis.publish(self._channel, payload)
        except (RedisError, OSError, TimeoutError) as exc:
            # Not raised: the commit stands and the other processes read the events from
            # the database; ephemeral events may be lost by design. Logged once per outage.
            if not self._publish_failing:
                self._publish_failing = True
                _log.warning("redis_bus_publish_failed", error=describe_error(exc))
            return
        if self._publish_failing:
            self._publish_failing = False
            _log.info("redis_bus_publish_recovered")

    # --- receiving -------------------------------------------------------------------

    async def _subscribe(self) -> PubSub:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            # SUBSCRIBE is confirmed by a message; once it is here, Redis routes every
            # later PUBLISH on the channel to this connection.
            async with asyncio.timeout(self._keepalive):
                while True:
                    message = await pubsub.get_message(timeout=self._keepalive)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await _close(pubsub)
            raise
        return pubsub

    async def _run(self, pubsub: PubSub | None) -> None:
        """Read until stopped; on any failure reconnect with capped, jittered backoff."""
        backoff = self._min_backoff
        try:
            while True:
                if pubsub is None:
                    try:
                        pubsub = await self._subscribe()
                    except (RedisError, OSError, TimeoutError) as exc:
                        _log.warning(
                            "redis_bus_reconnect_failed",
                            error=describe_error(exc),
                            retry_in=backoff,
                        )
                        backoff = await _pause(backoff, self._max_backoff)
                        continue
                    _log.info("redis_bus_reconnected", channel=self._channel)
                connected_at = time.monotonic()
                try:
                    await self._read(pubsub)
                except (RedisError, OSError, TimeoutError) as exc:
                    # Missed events are fine: the dispatchers fill gaps from the database.
                    _log.warning("redis_bus_disconnected", error=describe_error(exc))
                await _close(pubsub)
                pubsub = None
                if time.monotonic() - connected_at > self._max_backoff:
                    backoff = self._min_backoff  # it was a healthy connection, not a flap
                backoff = await _pause(backoff, self._max_backoff)
        finally:
            if pubsub is not None:
                await _close(pubsub)

    async def _read(self, pubsub: PubSub) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._keepalive)
            if message is None:
                if pinged:
                    raise _Silence("no answer to the keepalive ping")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            kind = message["type"]
            if kind == "message":
                self._deliver(message["data"])
            elif kind == "subscribe":
                # redis-py reconnected by itself and subscribed again; events published
                # in between are lost (and filled in from the database).
                _log.info("redis_bus_resubscribed", channel=self._channel)

    def _deliver(self, data: bytes | str) -> None:
        try:
            decoded: Any = json.loads(data)
            if decoded[0] == self._origin:
                return
            message = _decode(decoded)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            _log.warning("redis_bus_bad_message", error=describe_error(exc))
            return
        try:
            if isinstance(message, EphemeralEvent):
                if self._on_ephemeral is not None:
                    self._on_ephemeral(message)
            elif self._on_events is not None:
                self._on_events(message)
        except Exception:
            # One bad delivery must not end the subscription.
            _log.exception("redis_bus_handler_failed")


async def _pause(backoff: float, cap: float) -> float:
    """Sleep a jittered ``backoff`` (so processes don't reconnect in lockstep); the next."""
    # Jitter, not cryptography: spreads reconnects of many processes apart.
    await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # noqa: S311  # nosec B311
    return min(backoff * 2, cap)


async def _close(pubsub: PubSub) -> None:
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _decode(decoded: Any) -> list[StoredEvent] | EphemeralEvent:
    kind = decoded[1]
    if kind == _EVENTS:
        return [_event(row) for row in decoded[2]]
    if kind == _EPHEMERAL:
        return EphemeralEvent(str(decoded[2]), _opt_int(decoded[3]))
    raise ValueError(f"unknown message kind {kind!r}")


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer id")
    return value


def _event(row: Any) -> StoredEvent:
    if not isinstance(row, list) or len(row) != _EVENT_FIELDS:
        raise ValueError("malformed event")
    seq, type_, room_id, user_id, broadcast, frame = row
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError("expected an integer position")
    if not isinstance(type_, str) or not isinstance(frame, str) or not isinstance(broadcast, bool):
        raise TypeError("malformed event")
    return StoredEvent(seq, type_, _opt_int(room_id), _opt_int(user_id), broadcast, frame)
