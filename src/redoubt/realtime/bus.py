"""The event bus between writers and every process's dispatcher.

Two backends share one interface and one contract test suite: :class:`MemoryBus` for
the embedded default (a direct call) and :class:`redoubt.realtime.redis_bus.RedisBus`
for scale-out. A bus may deliver late, twice or out of order across publishers; the
dispatcher restores position order and fills gaps from the database, so a bus only has
to be fast, not perfect.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from typing_extensions import override

from redoubt.storage.database import StoredEvent

__all__ = ["EphemeralEvent", "EphemeralHandler", "EventBus", "EventHandler", "MemoryBus"]


@dataclass(frozen=True, slots=True)
class EphemeralEvent:
    """Typing and presence: never stored, no position, not replayed."""

    frame: str
    room_id: int | None
    """Deliver to the room's members; None means everyone."""


EventHandler = Callable[[Sequence[StoredEvent]], None]
EphemeralHandler = Callable[[EphemeralEvent], None]


class EventBus(abc.ABC):
    def __init__(self) -> None:
        self._on_events: EventHandler | None = None
        self._on_ephemeral: EphemeralHandler | None = None

    def subscribe(self, on_events: EventHandler, on_ephemeral: EphemeralHandler) -> None:
        """Set the one local consumer (this process's dispatcher)."""
        self._on_events = on_events
        self._on_ephemeral = on_ephemeral

    async def start(self) -> None:  # noqa: B027 - optional hook; the memory bus needs none
        """Connect; after this returns, published events reach the subscriber."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abc.abstractmethod
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Send committed events, in position order, to every process."""

    @abc.abstractmethod
    async def publish_ephemeral(self, event: EphemeralEvent) -> None:
        """Send an ephemeral event to every process."""


class MemoryBus(EventBus):
    """In-process delivery: the subscriber is called before ``publish`` returns."""

    @override
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if self._on_events is not None:
            self._on_events(events)

    @override
    async def publish_ephemeral(self, event: EphemeralEvent) -> None:
        if self._on_ephemeral is not None:
            self._on_ephemeral(event)
