"""Rooms and membership: create, DMs, join, leave, invite, kick, roles, topic, archive."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from redoubt.actions._common import audit, payload, uses_admin_power
from redoubt.actions.outgoing_hooks import enqueue_deliveries_txn
from redoubt.core.checks import expect
from redoubt.core.errors import BadRequest, Conflict, ErrorCode, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.enums import MemberRole, RoomKind, UserRole
from redoubt.domain.events import EventType
from redoubt.domain.outgoing_hooks import HookEvent
from redoubt.domain.permissions import RoomAction, may_create_room, may_manage_member
from redoubt.domain.text import is_valid_room_name
from redoubt.domain.views import ReadStateView, RoomView
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import RoomAccess, access_room_conn, enforce, room_view
from redoubt.storage import bots as bot_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.records import MembershipRecord, RoomRecord

__all__ = [
    "MAX_DM_USERS",
    "MAX_TOPIC_CHARS",
    "add_member_txn",
    "do_add_member",
    "do_create_room",
    "do_join_room",
    "do_leave_room",
    "do_open_dm",
    "do_remove_member",
    "do_set_member_role",
    "do_update_room",
    "remove_member_txn",
]

MAX_TOPIC_CHARS = 512
MAX_DM_USERS = 9


async def add_member_txn(
    ctx: Context, txn: Txn, room: RoomRecord, user_id: int, role: MemberRole
) -> RoomView:
    membership = MembershipRecord(
        room_id=room.id,
        user_id=user_id,
        role=role,
        joined_at=txn.now,
        # New members start with nothing unread; history stays readable.
        last_read_position=room.last_position,
    )
    await room_store.insert_membership_txn(txn.conn, membership)
    view = await room_view(txn.conn, room)
    read = ReadStateView(
        room_id=view.id, last_read_position=room.last_position, unread_count=0, mention_count=0
    )
    await txn.append_event(
        EventType.MEMBER_ADDED,
        payload(room=view, user_id=format_id(user_id), role=role.value, read=read),
        room_id=room.id,
        user_id=user_id,
    )
    await enqueue_deliveries_txn(  # [outgoing webhooks]
        ctx, txn, room=room, event=HookEvent.MEMBER_JOINED, user_id=user_id
    )
    return view


async def _insert_room_txn(
    ctx: Context,
    txn: Txn,
    *,
    kind: RoomKind,
    name: str | None,
    topic: str,
    dm_key: str | None,
    acting_user: Requester,
    details: dict[str, object],
) -> RoomRecord:
    """Insert a new, empty room and its audit row (members are added by the caller)."""
    room = RoomRecord(
        id=ctx.ids.next_id(),
        kind=kind,
        name=name,
        topic=topic,
        archived=False,
        dm_key=dm_key,
        created_by=acting_user.id,
        created_at=txn.now,
        last_position=0,
    )
    await room_store.insert_room_txn(txn.conn, room)
    await audit(
        ctx,
        txn,
        "room.create",
        acting_user=acting_user,
        target_type="room",
        target_id=room.id,
        details={"kind": kind.value, **details},
    )
    return room


async def remove_member_txn(ctx: Context, txn: Txn, room: RoomRecord, user_id: int) -> None:
    await room_store.delete_membership_txn(txn.conn, room.id, user_id)
    view = await room_view(txn.conn, room)
    await txn.append_event(
        EventType.MEMBER_REMOVED,
        payload(room=view, user_id=format_id(user_id)),
        room_id=room.id,
        user_id=user_id,
    )
    await enqueue_deliveries_txn(  # [outgoing webhooks]
        ctx, txn, room=room, event=HookEvent.MEMBER_LEFT, user_id=user_id
    )


async def do_create_room(
    ctx: Context, *, name: str, kind: RoomKind, topic: str, acting_user: Requester
) -> RoomView:
    """Create a public channel or private group with the creator as owner.

    Raises:
        Forbidden: the creator's role may not create rooms of this kind.
        BadRequest: invalid name or topic, or kind ``dm`` (use :func:`do_open_dm`).
        Conflict: the name is taken.
    """
    if kind is RoomKind.DM:
        raise BadRequest("Use the DM endpoint to start a direct message.")
    if not may_create_room(acting_user.user.role, kind):
        raise Forbidden
    name = name.lower()
    if not is_valid_room_name(name):
        raise BadRequest(
            "Room names are 1-64 characters: lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit."
        )
    if len(topic) > MAX_TOPIC_CHARS:
        raise BadRequest(f"Topics are at most {MAX_TOPIC_CHARS} characters.")
    async with ctx.db.transaction("create_room") as txn:
        if await room_store.get_room_by_name(txn.conn, name) is not None:
            raise Conflict("A room with that name exists.", code=ErrorCode.NAME_TAKEN)
        room = await _insert_room_txn(
            ctx,
            txn,
            kind=kind,
            name=name,
            topic=topic,
            dm_key=None,
            acting_user=acting_user,
            details={"name": name},
        )
        view = await add_member_txn(ctx, txn, room, acting_user.id, MemberRole.OWNER)
    return view


async def do_open_dm(
    ctx: Context, *, user_ids: Sequence[int], acting_user: Requester
) -> tuple[RoomView, bool]:
    """Return the DM among the acting user and ``user_ids``, creating it if needed.

    Returns:
        The room and whether it was created now.

    Raises:
        NotFound: one of the users doesn't exist or is deactivated.
        BadRequest: too many users.
        Forbidden: the acting user's role may not start DMs.
    """
    if not may_create_room(acting_user.user.role, RoomKind.DM):
        raise Forbidden
    members = sorted({*user_ids, acting_user.id})
    if len(members) > MAX_DM_USERS:
        raise BadRequest(f"A DM has at most {MAX_DM_USERS} people.")
    dm_key = ",".join(str(m) for m in members)
    async with ctx.db.transaction("open_dm") as txn:
        existing = await room_store.get_room_by_dm_key(txn.conn, dm_key)
        if existing is not None:
            return await room_view(txn.conn, existing), False
        users = await user_store.get_users_by_ids(txn.conn, members)
        if len(users) != len(members) or not all(u.is_active for u in users):
            raise NotFound("No such user.")
        room = await _insert_room_txn(
            ctx,
            txn,
            kind=RoomKind.DM,
            name=None,
            topic="",
            dm_key=dm_key,
            acting_user=acting_user,
            details={"members": [str(m) for m in members]},
        )
        views = [await add_member_txn(ctx, txn, room, m, MemberRole.MEMBER) for m in members]
        view = views[-1]
    return view, True


async def do_join_room(ctx: Context, room_id: int, *, acting_user: Requester) -> RoomView:
    async with ctx.db.transaction("join_room") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.JOIN)
        if access.membership is not None:
            return await room_view(txn.conn, access.room)
        view = await add_member_txn(ctx, txn, access.room, acting_user.id, MemberRole.MEMBER)
        await audit(
            ctx, txn, "room.join", acting_user=acting_user, target_type="room", target_id=room_id
        )
    return view


async def _hand_over_ownership_txn(
    ctx: Context, txn: Txn, room_id: int, leaving: Requester
) -> None:
    """Promote a successor when the last owner leaves, so a room with members has an owner."""
    members = await room_store.list_members(txn.conn, room_id)  # oldest first
    if any(m.role is MemberRole.OWNER and m.user_id != leaving.id for m in members):
        return
    others = [m for m in members if m.user_id != leaving.id]
    if not others:
        return
    successor = max(others, key=lambda m: m.role.rank)  # max keeps the first (oldest) of ties
    await room_store.update_membership_txn(
        txn.conn, room_id, successor.user_id, role=MemberRole.OWNER
    )
    await txn.append_event(
        EventType.MEMBER_UPDATED,
        payload(
            room_id=format_id(room_id),
            user_id=format_id(successor.user_id),
            role=MemberRole.OWNER.value,
        ),
        room_id=room_id,
    )
    await audit(
        ctx,
        txn,
        "room.member_role",
        acting_user=leaving,
        target_type="room",
        target_id=room_id,
        details={
            "user_id": str(successor.user_id),
            "from": successor.role.value,
            "to": MemberRole.OWNER.value,
            "reason": "last_owner_left",
        },
    )


async def do_leave_room(ctx: Context, room_id: int, *, acting_user: Requester) -> None:
    """Leave a channel or private group.

    A room needs at least one owner: when its last owner leaves, the longest-standing
    of the highest-ranked remaining members becomes owner (audited).
    """
    async with ctx.db.transaction("leave_room") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.LEAVE)
        if access.membership is not None and access.membership.role is MemberRole.OWNER:
            await _hand_over_ownership_txn(ctx, txn, room_id, acting_user)
        await remove_member_txn(ctx, txn, access.room, acting_user.id)
        await audit(
            ctx, txn, "room.leave", acting_user=acting_user, target_type="room", target_id=room_id
        )


async def do_add_member(
    ctx: Context, room_id: int, user_id: int, *, acting_user: Requester
) -> RoomView:
    """Invite ``user_id`` into the room (idempotent).

    Raises:
        NotFound: no such room (for the actor) or no such active user.
        Forbidden: the actor may not invite here; a bot whose allowed rooms don't
            include this one.
    """
    async with ctx.db.transaction("add_member") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.INVITE)
        target = await user_store.get_user_by_id(txn.conn, user_id)
        if target is None or not target.is_active:
            raise NotFound("No such user.")
        if await room_store.get_membership(txn.conn, room_id, user_id) is not None:
            return await room_view(txn.conn, access.room)
        if target.role is UserRole.BOT:  # [bots] only into the rooms an admin allowed
            bot = await bot_store.get_bot(txn.conn, user_id)
            if bot is None or room_id not in bot.room_ids:
                raise Forbidden("This bot may only be added to the rooms an admin allowed for it.")
        view = await add_member_txn(ctx, txn, access.room, user_id, MemberRole.MEMBER)
        await audit(
            ctx,
            txn,
            "room.member_add",
            acting_user=acting_user,
            target_type="room",
            target_id=room_id,
            details={"user_id": str(user_id)},
        )
    return view


async def do_remove_member(
    ctx: Context, room_id: int, user_id: int, *, acting_user: Requester
) -> None:
    """Kick a member (or leave, when ``user_id`` is the actor)."""
    if user_id == acting_user.id:
        await do_leave_room(ctx, room_id, acting_user=acting_user)
        return
    async with ctx.db.transaction("remove_member") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.KICK)
        target = await room_store.get_membership(txn.conn, room_id, user_id)
        if target is None:
            raise NotFound("That user is not a member.")
        if not may_manage_member(
            access.membership.role if access.membership else None,
            target.role,
            actor_is_admin=acting_user.user.role is UserRole.ADMIN,
        ):
            raise Forbidden
        await remove_member_txn(ctx, txn, access.room, user_id)
        await audit(
            ctx,
            txn,
            "room.member_remove",
            acting_user=acting_user,
            target_type="room",
            target_id=room_id,
            details={"user_id": str(user_id)},
        )


async def do_set_member_role(
    ctx: Context, room_id: int, user_id: int, role: MemberRole, *, acting_user: Requester
) -> None:
    async with ctx.db.transaction("set_member_role") as txn:
        await access_room_conn(txn.conn, acting_user, room_id, RoomAction.SET_MEMBER_ROLE)
        target = await room_store.get_membership(txn.conn, room_id, user_id)
        if target is None:
            raise NotFound("That user is not a member.")
        if target.role is role:
            return
        if target.role is MemberRole.OWNER and role is not MemberRole.OWNER:
            owners = [
                m
                for m in await room_store.list_members(txn.conn, room_id)
                if m.role is MemberRole.OWNER
            ]
            if len(owners) == 1:
                raise BadRequest("A room needs at least one owner.")
        await room_store.update_membership_txn(txn.conn, room_id, user_id, role=role)
        await txn.append_event(
            EventType.MEMBER_UPDATED,
            payload(room_id=format_id(room_id), user_id=format_id(user_id), role=role.value),
            room_id=room_id,
        )
        await audit(
            ctx,
            txn,
            "room.member_role",
            acting_user=acting_user,
            target_type="room",
            target_id=room_id,
            details={"user_id": str(user_id), "from": target.role.value, "to": role.value},
        )


async def do_update_room(
    ctx: Context,
    room_id: int,
    *,
    topic: str | None,
    archived: bool | None,
    acting_user: Requester,
) -> RoomView:
    """Change the topic (moderators) and/or archive or unarchive (owners), all or nothing.

    Every requested change is authorized before anything is written, in one
    transaction: a request refused in part changes nothing. A topic may come with an
    unarchive (the topic is judged on the reopened room), not with an archive of an
    already archived room.

    Raises:
        NotFound: the room isn't visible to the actor.
        Forbidden: a requested change isn't the actor's to make (or the room is archived).
        BadRequest: the topic is too long.
    """
    if topic is not None and len(topic) > MAX_TOPIC_CHARS:
        raise BadRequest(f"Topics are at most {MAX_TOPIC_CHARS} characters.")
    async with ctx.db.transaction("update_room") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.READ)
        room = access.room
        changes: dict[str, object] = {}
        if archived is not None and archived != room.archived:
            enforce(acting_user, access, RoomAction.ARCHIVE)
            changes["archived"] = archived
        if topic is not None:
            reopened = archived is False
            judged = RoomAccess(dataclasses.replace(room, archived=False), access.membership)
            enforce(acting_user, judged if reopened else access, RoomAction.UPDATE)
            if topic != room.topic:
                changes["topic"] = topic
        if not changes:
            return await room_view(txn.conn, room)
        await room_store.update_room_txn(txn.conn, room_id, **changes)
        updated = expect(await room_store.get_room_by_id(txn.conn, room_id), "the room")
        view = await room_view(txn.conn, updated)
        await txn.append_event(EventType.ROOM_UPDATED, payload(room=view), room_id=room_id)
        if "archived" in changes:
            await audit(
                ctx,
                txn,
                "room.archive" if archived else "room.unarchive",
                acting_user=acting_user,
                target_type="room",
                target_id=room_id,
            )
        if "topic" in changes and uses_admin_power(acting_user, access, RoomAction.UPDATE):
            await audit(  # a moderator's power, used by an admin who isn't one here
                ctx,
                txn,
                "room.topic_by_admin",
                acting_user=acting_user,
                target_type="room",
                target_id=room_id,
            )
    return view
