"""Reading the event stream for resumption and gap filling."""

from __future__ import annotations

from redoubt.queries.context import Context
from redoubt.storage import events as event_store
from redoubt.storage import rooms as room_store
from redoubt.storage.database import StoredEvent

__all__ = ["events_between", "events_for_user", "room_ids_of_user"]


async def events_between(ctx: Context, after: int, upto: int) -> list[StoredEvent]:
    async with ctx.db.read("events_between") as conn:
        return await event_store.list_events_between(conn, after, upto)


async def room_ids_of_user(ctx: Context, user_id: int) -> set[int]:
    async with ctx.db.read("room_ids_of_user") as conn:
        return set(await room_store.list_room_ids_of_user(conn, user_id))


async def events_for_user(
    ctx: Context, user_id: int, room_ids: set[int], *, after: int, upto: int, limit: int
) -> list[StoredEvent]:
    async with ctx.db.read("events_for_user") as conn:
        return await event_store.list_events_for_user(
            conn, user_id, sorted(room_ids), after=after, upto=upto, limit=limit
        )
