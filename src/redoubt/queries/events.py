"""Reading the event stream for resumption and gap filling."""

from __future__ import annotations

from redoubt.domain.events import EventType
from redoubt.queries.context import Context
from redoubt.storage import events as event_store
from redoubt.storage import rooms as room_store
from redoubt.storage.database import StoredEvent

__all__ = ["events_between", "events_for_user", "room_ids_at", "room_ids_of_user"]


async def events_between(ctx: Context, after: int, upto: int) -> list[StoredEvent]:
    async with ctx.db.read("events_between") as conn:
        return await event_store.list_events_between(conn, after, upto)


async def room_ids_of_user(ctx: Context, user_id: int) -> set[int]:
    async with ctx.db.read("room_ids_of_user") as conn:
        return set(await room_store.list_room_ids_of_user(conn, user_id))


async def room_ids_at(ctx: Context, user_id: int, position: int) -> tuple[set[int], set[int]]:
    """The rooms the user was a member of at ``position``, and the rooms they joined or
    left after it.

    ``position`` must be committed (at most the dispatcher's position). Every change of
    membership is an event naming the user, so the state at ``position`` is the current
    one with each room that changed since set back to how it was before its first change.
    Positions become visible in order, so the two reads need no common snapshot.
    """
    async with ctx.db.read("room_ids_at") as conn:
        room_ids = set(await room_store.list_room_ids_of_user(conn, user_id))
        changes = await event_store.list_membership_events(conn, user_id, after=position)
    first: dict[int, str] = {}
    for event in changes:
        if event.room_id is not None:
            first.setdefault(event.room_id, event.type)
    for room_id, kind in first.items():
        if kind == EventType.MEMBER_ADDED:
            room_ids.discard(room_id)
        else:
            room_ids.add(room_id)
    return room_ids, set(first)


async def events_for_user(
    ctx: Context, user_id: int, room_ids: set[int], *, after: int, upto: int, limit: int
) -> list[StoredEvent]:
    async with ctx.db.read("events_for_user") as conn:
        return await event_store.list_events_for_user(
            conn, user_id, sorted(room_ids), after=after, upto=upto, limit=limit
        )
