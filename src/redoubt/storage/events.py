"""Reading the stored event stream (writes happen in :class:`storage.database.Txn`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.domain.events import EventType
from redoubt.storage.database import StoredEvent
from redoubt.storage.schema import events

__all__ = ["list_events_between", "list_events_for_user", "list_membership_events"]

_MEMBERSHIP_TYPES = (EventType.MEMBER_ADDED.value, EventType.MEMBER_REMOVED.value)


def _event(row: object) -> StoredEvent:
    return StoredEvent(
        seq=row.seq,  # type: ignore[attr-defined]  # sqlalchemy Row attribute access
        type=row.type,  # type: ignore[attr-defined]
        room_id=row.room_id,  # type: ignore[attr-defined]
        user_id=row.user_id,  # type: ignore[attr-defined]
        broadcast=row.broadcast,  # type: ignore[attr-defined]
        frame=row.frame,  # type: ignore[attr-defined]
    )


async def list_events_between(
    conn: AsyncConnection, after: int, upto: int, *, limit: int = 10_000
) -> list[StoredEvent]:
    """Every event with ``after < seq <= upto`` in order (gap filling between processes)."""
    rows = await conn.execute(
        select(events)
        .where(events.c.seq > after, events.c.seq <= upto)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [_event(r) for r in rows]


async def list_events_for_user(
    conn: AsyncConnection,
    user_id: int,
    room_ids: Sequence[int],
    *,
    after: int,
    upto: int,
    limit: int,
) -> list[StoredEvent]:
    """Events in ``(after, upto]`` whose audience includes the user, in order."""
    audience = or_(
        events.c.broadcast.is_(True),
        events.c.user_id == user_id,
        events.c.room_id.in_(list(room_ids)) if room_ids else events.c.broadcast.is_(True),
    )
    rows = await conn.execute(
        select(events)
        .where(events.c.seq > after, events.c.seq <= upto, audience)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [_event(r) for r in rows]


async def list_membership_events(
    conn: AsyncConnection, user_id: int, *, after: int
) -> list[StoredEvent]:
    """The user's own joins and removals with ``seq > after``, in order."""
    rows = await conn.execute(
        select(events)
        .where(
            events.c.user_id == user_id,
            events.c.seq > after,
            events.c.type.in_(_MEMBERSHIP_TYPES),
        )
        .order_by(events.c.seq)
    )
    return [_event(r) for r in rows]
