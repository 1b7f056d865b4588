"""Rooms, memberships and read positions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.domain.enums import MemberRole, RoomKind
from redoubt.storage._rows import from_row, to_values
from redoubt.storage.records import MembershipRecord, RoomRecord
from redoubt.storage.schema import memberships, mentions, messages, rooms

__all__ = [
    "ReadCounts",
    "count_members",
    "delete_membership_txn",
    "get_membership",
    "get_room_by_dm_key",
    "get_room_by_id",
    "get_room_by_name",
    "get_room_with_membership",
    "get_rooms_by_ids",
    "insert_membership_txn",
    "insert_room_txn",
    "list_all_rooms",
    "list_dm_room_ids_of_user",
    "list_member_ids",
    "list_member_ids_for_rooms",
    "list_members",
    "list_memberships_of_user",
    "list_room_ids_of_user",
    "read_counts",
    "update_membership_txn",
    "update_room_txn",
]


def _room(row: Any) -> RoomRecord:
    return from_row(RoomRecord, row, kind=RoomKind)


def _membership(row: Any) -> MembershipRecord:
    return from_row(MembershipRecord, row, role=MemberRole)


async def get_room_by_id(conn: AsyncConnection, room_id: int) -> RoomRecord | None:
    row = (await conn.execute(select(rooms).where(rooms.c.id == room_id))).first()
    return _room(row) if row else None


async def get_rooms_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[RoomRecord]:
    if not ids:
        return []
    rows = await conn.execute(select(rooms).where(rooms.c.id.in_(list(ids))))
    return [_room(r) for r in rows]


async def get_room_by_name(conn: AsyncConnection, name: str) -> RoomRecord | None:
    row = (await conn.execute(select(rooms).where(rooms.c.name == name))).first()
    return _room(row) if row else None


async def get_room_by_dm_key(conn: AsyncConnection, dm_key: str) -> RoomRecord | None:
    row = (await conn.execute(select(rooms).where(rooms.c.dm_key == dm_key))).first()
    return _room(row) if row else None


async def list_all_rooms(
    conn: AsyncConnection,
    *,
    kinds: Sequence[RoomKind],
    limit: int,
    after_id: int = 0,
    name_prefix: str | None = None,
) -> list[RoomRecord]:
    """Rooms of the given kinds in id order; ``name_prefix`` matches literally (``%`` and
    ``_`` are escaped, not wildcards)."""
    query = select(rooms).where(rooms.c.kind.in_([k.value for k in kinds]), rooms.c.id > after_id)
    if name_prefix:
        query = query.where(rooms.c.name.startswith(name_prefix.lower(), autoescape=True))
    rows = await conn.execute(query.order_by(rooms.c.id).limit(limit))
    return [_room(r) for r in rows]


async def insert_room_txn(conn: AsyncConnection, room: RoomRecord) -> None:
    await conn.execute(insert(rooms).values(**to_values(room)))


async def update_room_txn(conn: AsyncConnection, room_id: int, **fields: Any) -> None:
    await conn.execute(update(rooms).where(rooms.c.id == room_id).values(**fields))


async def get_membership(
    conn: AsyncConnection, room_id: int, user_id: int
) -> MembershipRecord | None:
    row = (
        await conn.execute(
            select(memberships).where(
                memberships.c.room_id == room_id, memberships.c.user_id == user_id
            )
        )
    ).first()
    return _membership(row) if row else None


async def get_room_with_membership(
    conn: AsyncConnection, room_id: int, user_id: int
) -> tuple[RoomRecord, MembershipRecord | None] | None:
    """A room and one user's membership in it, in one query (every room-scoped call)."""
    row = (
        await conn.execute(
            select(
                rooms,
                memberships.c.role.label("member_role"),
                memberships.c.joined_at.label("member_joined_at"),
                memberships.c.last_read_position.label("member_last_read"),
            )
            .select_from(
                rooms.outerjoin(
                    memberships,
                    and_(memberships.c.room_id == rooms.c.id, memberships.c.user_id == user_id),
                )
            )
            .where(rooms.c.id == room_id)
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    membership = (
        MembershipRecord(
            room_id=room_id,
            user_id=user_id,
            role=MemberRole(m["member_role"]),
            joined_at=m["member_joined_at"],
            last_read_position=m["member_last_read"],
        )
        if m["member_role"] is not None
        else None
    )
    return _room(row), membership


async def list_members(conn: AsyncConnection, room_id: int) -> list[MembershipRecord]:
    rows = await conn.execute(
        select(memberships)
        .where(memberships.c.room_id == room_id)
        .order_by(memberships.c.joined_at, memberships.c.user_id)
    )
    return [_membership(r) for r in rows]


async def list_member_ids(conn: AsyncConnection, room_id: int) -> list[int]:
    rows = await conn.execute(
        select(memberships.c.user_id)
        .where(memberships.c.room_id == room_id)
        .order_by(memberships.c.joined_at, memberships.c.user_id)
    )
    return [r[0] for r in rows]


async def list_member_ids_for_rooms(
    conn: AsyncConnection, room_ids: Sequence[int]
) -> dict[int, list[int]]:
    result: dict[int, list[int]] = defaultdict(list)
    if not room_ids:
        return result
    rows = await conn.execute(
        select(memberships.c.room_id, memberships.c.user_id)
        .where(memberships.c.room_id.in_(list(room_ids)))
        .order_by(memberships.c.joined_at, memberships.c.user_id)
    )
    for room_id, user_id in rows:
        result[room_id].append(user_id)
    return result


async def count_members(conn: AsyncConnection, room_ids: Sequence[int]) -> dict[int, int]:
    if not room_ids:
        return {}
    rows = await conn.execute(
        select(memberships.c.room_id, func.count())
        .where(memberships.c.room_id.in_(list(room_ids)))
        .group_by(memberships.c.room_id)
    )
    return {int(room_id): int(n) for room_id, n in rows}


async def list_memberships_of_user(conn: AsyncConnection, user_id: int) -> list[MembershipRecord]:
    rows = await conn.execute(select(memberships).where(memberships.c.user_id == user_id))
    return [_membership(r) for r in rows]


async def list_dm_room_ids_of_user(conn: AsyncConnection, user_id: int) -> list[int]:
    """The DMs the user is in."""
    rows = await conn.execute(
        select(memberships.c.room_id)
        .join(rooms, rooms.c.id == memberships.c.room_id)
        .where(memberships.c.user_id == user_id, rooms.c.kind == RoomKind.DM.value)
    )
    return [r[0] for r in rows]


async def list_room_ids_of_user(conn: AsyncConnection, user_id: int) -> list[int]:
    rows = await conn.execute(select(memberships.c.room_id).where(memberships.c.user_id == user_id))
    return [r[0] for r in rows]


async def insert_membership_txn(conn: AsyncConnection, membership: MembershipRecord) -> None:
    await conn.execute(insert(memberships).values(**to_values(membership)))


async def update_membership_txn(
    conn: AsyncConnection, room_id: int, user_id: int, **fields: Any
) -> None:
    if isinstance(fields.get("role"), MemberRole):
        fields["role"] = fields["role"].value
    await conn.execute(
        update(memberships)
        .where(memberships.c.room_id == room_id, memberships.c.user_id == user_id)
        .values(**fields)
    )


async def delete_membership_txn(conn: AsyncConnection, room_id: int, user_id: int) -> None:
    await conn.execute(
        delete(memberships).where(
            memberships.c.room_id == room_id, memberships.c.user_id == user_id
        )
    )


class ReadCounts:
    __slots__ = ("mentions", "unread")

    def __init__(self, unread: int = 0, mentions: int = 0) -> None:
        self.unread = unread
        self.mentions = mentions


async def read_counts(
    conn: AsyncConnection, user_id: int, room_ids: Sequence[int] | None = None
) -> dict[int, ReadCounts]:
    """Unread and mention counts per room for one user.

    Unread: live messages by others after the user's read position. Mentions: those of
    them that name the user or the whole room.
    """
    joined = and_(
        memberships.c.room_id == messages.c.room_id,
        memberships.c.user_id == user_id,
    )
    base = (
        select(messages.c.room_id, func.count())
        .select_from(messages.join(memberships, joined))
        .where(
            messages.c.position > memberships.c.last_read_position,
            messages.c.author_id != user_id,
            messages.c.deleted.is_(False),
        )
        .group_by(messages.c.room_id)
    )
    if room_ids is not None:
        base = base.where(messages.c.room_id.in_(list(room_ids)))
    mentioned = base.where(
        or_(
            messages.c.mentions_room.is_(True),
            messages.c.id.in_(select(mentions.c.message_id).where(mentions.c.user_id == user_id)),
        )
    )
    counts: dict[int, ReadCounts] = defaultdict(ReadCounts)
    for room_id, n in await conn.execute(base):
        counts[room_id].unread = n
    for room_id, n in await conn.execute(mentioned):
        counts[room_id].mentions = n
    return counts
