"""Permission-checked room lookups and room views.

Authorization is always decided on the room and membership loaded here, through the
matrix in :mod:`redoubt.domain.permissions`; a room the requester can't see raises
``NotFound``, exactly as for a room that doesn't exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import ErrorCode, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.enums import RoomKind, UserRole
from redoubt.domain.permissions import RoomAction, Verdict, decide
from redoubt.domain.views import MembershipView, ReadStateView, RoomView
from redoubt.queries.context import Context, Requester
from redoubt.storage import rooms as room_store
from redoubt.storage.records import MembershipRecord, RoomRecord

__all__ = [
    "QUARANTINED_MESSAGE",
    "RoomAccess",
    "access_room",
    "access_room_conn",
    "enforce",
    "get_room_view",
    "list_my_rooms",
    "list_room_members",
    "read_state",
    "room_view",
    "room_views",
]


QUARANTINED_MESSAGE = "bot is quarantined"


@dataclass(frozen=True, slots=True)
class RoomAccess:
    room: RoomRecord
    membership: MembershipRecord | None


def enforce(requester: Requester, access: RoomAccess, action: RoomAction) -> None:
    """Raise the error the matrix calls for, or return when allowed."""
    if requester.grant is not None and not requester.grant.allows_room(access.room.id):
        raise NotFound  # outside the token's room list: as if the room weren't there
    if (
        requester.grant is not None
        and requester.grant.quarantined
        and action is not RoomAction.READ
    ):
        raise Forbidden(QUARANTINED_MESSAGE)  # T7: a quarantined bot reads, never writes
    verdict = decide(
        requester.user.role,
        access.room.kind,
        access.membership.role if access.membership else None,
        action,
        archived=access.room.archived,
    )
    if verdict is Verdict.NOT_FOUND:
        raise NotFound
    if verdict is Verdict.ARCHIVED:
        raise Forbidden("This room is archived.", code=ErrorCode.ROOM_ARCHIVED)
    if verdict is Verdict.FORBIDDEN:
        raise Forbidden


async def access_room_conn(
    conn: AsyncConnection,
    requester: Requester,
    room_id: int,
    action: RoomAction = RoomAction.READ,
) -> RoomAccess:
    """Load a room and the requester's membership, and check ``action`` on them.

    Raises:
        NotFound: the room doesn't exist or the requester may not know it does.
        Forbidden: visible, but the action is not allowed.
    """
    found = await room_store.get_room_with_membership(conn, room_id, requester.id)
    if found is None:
        raise NotFound
    access = RoomAccess(*found)
    enforce(requester, access, action)
    return access


async def access_room(
    ctx: Context, requester: Requester, room_id: int, action: RoomAction = RoomAction.READ
) -> RoomAccess:
    async with ctx.db.read("access_room") as conn:
        return await access_room_conn(conn, requester, room_id, action)


async def room_views(conn: AsyncConnection, rooms: Sequence[RoomRecord]) -> list[RoomView]:
    # Counts for all rooms, ids only for DMs (small, fixed membership): a big channel's
    # view must not cost a read of every member.
    counts = await room_store.count_members(conn, [r.id for r in rooms])
    members = await room_store.list_member_ids_for_rooms(
        conn, [r.id for r in rooms if r.kind is RoomKind.DM]
    )
    return [
        RoomView(
            id=format_id(room.id),
            kind=room.kind,
            name=room.name,
            topic=room.topic,
            archived=room.archived,
            created_by=format_id(room.created_by),
            created_at=room.created_at,
            member_count=counts.get(room.id, 0),
            dm_user_ids=(
                [format_id(u) for u in sorted(members.get(room.id, ()))]
                if room.kind is RoomKind.DM
                else []
            ),
        )
        for room in rooms
    ]


async def room_view(conn: AsyncConnection, room: RoomRecord) -> RoomView:
    return (await room_views(conn, [room]))[0]


async def get_room_view(ctx: Context, requester: Requester, room_id: int) -> RoomView:
    """The view of one room the requester may see.

    Raises:
        NotFound: no such room, or not visible to the requester.
    """
    async with ctx.db.read("get_room_view") as conn:
        access = await access_room_conn(conn, requester, room_id, RoomAction.READ)
        return await room_view(conn, access.room)


async def read_state(conn: AsyncConnection, user_id: int, room_id: int) -> ReadStateView:
    membership = await room_store.get_membership(conn, room_id, user_id)
    counts = (await room_store.read_counts(conn, user_id, [room_id])).get(room_id)
    return ReadStateView(
        room_id=format_id(room_id),
        last_read_position=membership.last_read_position if membership else 0,
        unread_count=counts.unread if counts else 0,
        mention_count=counts.mentions if counts else 0,
    )


async def list_my_rooms(ctx: Context, requester: Requester) -> list[MembershipView]:
    """The requester's rooms with their role and unread state, newest activity first."""
    async with ctx.db.read("list_my_rooms") as conn:
        memberships = {
            m.room_id: m
            for m in await room_store.list_memberships_of_user(conn, requester.id)
            if requester.grant is None or requester.grant.allows_room(m.room_id)
        }
        rooms = await room_store.get_rooms_by_ids(conn, list(memberships))
        rooms.sort(key=lambda r: (-r.last_position, r.id))
        views = await room_views(conn, rooms)
        counts = await room_store.read_counts(conn, requester.id)
    out = []
    for room, view in zip(rooms, views, strict=True):
        membership = memberships[room.id]
        c = counts.get(room.id)
        out.append(
            MembershipView(
                room=view,
                role=membership.role,
                read=ReadStateView(
                    room_id=view.id,
                    last_read_position=membership.last_read_position,
                    unread_count=c.unread if c else 0,
                    mention_count=c.mentions if c else 0,
                ),
            )
        )
    return out


async def list_room_members(
    ctx: Context, requester: Requester, room_id: int
) -> list[MembershipRecord]:
    async with ctx.db.read("list_room_members") as conn:
        await access_room_conn(conn, requester, room_id, RoomAction.READ)
        return await room_store.list_members(conn, room_id)


async def list_directory(
    ctx: Context, requester: Requester, *, query: str | None, limit: int, after_id: int = 0
) -> list[RoomView]:
    """Public channels the requester could join (joined or not), in id order.

    Raises:
        Forbidden: guests and bots, who can't see channels they aren't in.
    """
    if requester.user.role not in (UserRole.USER, UserRole.ADMIN):
        raise Forbidden
    async with ctx.db.read("list_directory") as conn:
        rooms = await room_store.list_all_rooms(
            conn, kinds=[RoomKind.CHANNEL], limit=limit, after_id=after_id, name_prefix=query
        )
        return await room_views(conn, rooms)


async def list_rooms_for_admin(
    ctx: Context, requester: Requester, *, limit: int, after_id: int = 0
) -> list[RoomView]:
    """Every channel, for the admin pages. Private groups and DMs stay visible only to
    their members, admins included (the permission model's rule, not an oversight).

    Raises:
        Forbidden: not an admin.
    """
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.read("list_rooms_for_admin") as conn:
        rooms = await room_store.list_all_rooms(
            conn, kinds=[RoomKind.CHANNEL], limit=limit, after_id=after_id
        )
        return await room_views(conn, rooms)
