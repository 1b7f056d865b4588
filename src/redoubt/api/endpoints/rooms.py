"""Rooms, DMs, membership and read positions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from redoubt.actions.messages import do_mark_read
from redoubt.actions.rooms import (
    do_add_member,
    do_create_room,
    do_join_room,
    do_leave_room,
    do_open_dm,
    do_remove_member,
    do_set_member_role,
    do_update_room,
)
from redoubt.api.deps import Auth, Ctx, path_id
from redoubt.api.schemas import (
    AddMemberBody,
    CreateRoomBody,
    MarkReadBody,
    OpenDmBody,
    SetMemberRoleBody,
    UpdateRoomBody,
)
from redoubt.core.ids import format_id
from redoubt.domain.enums import MemberRole, RoomKind
from redoubt.domain.views import MembershipView, MemberView, ReadStateView, RoomView
from redoubt.queries.rooms import get_room_view, list_my_rooms, list_room_members

router = APIRouter(tags=["rooms"])


@router.post("/rooms", response_model=RoomView, status_code=201)
async def create_room(body: CreateRoomBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Create a public channel or a private group; the creator becomes its owner."""
    return await do_create_room(
        ctx, name=body.name, kind=RoomKind(body.kind), topic=body.topic, acting_user=requester
    )


@router.get("/rooms", response_model=list[MembershipView])
async def my_rooms(requester: Auth, ctx: Ctx) -> list[MembershipView]:
    """The caller's rooms with role, read position, unread and mention counts."""
    return await list_my_rooms(ctx, requester)


@router.get("/rooms/{room_id}", response_model=RoomView)
async def get_room(room_id: str, requester: Auth, ctx: Ctx) -> RoomView:
    return await get_room_view(ctx, requester, path_id(room_id))


@router.patch("/rooms/{room_id}", response_model=RoomView)
async def update_room(room_id: str, body: UpdateRoomBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Change the topic (moderators) and/or archive or unarchive (owners); a request
    refused in part changes nothing."""
    return await do_update_room(
        ctx, path_id(room_id), topic=body.topic, archived=body.archived, acting_user=requester
    )


@router.post("/rooms/{room_id}/join", response_model=RoomView)
async def join_room(room_id: str, requester: Auth, ctx: Ctx) -> RoomView:
    return await do_join_room(ctx, path_id(room_id), acting_user=requester)


@router.post("/rooms/{room_id}/leave", status_code=204)
async def leave_room(room_id: str, requester: Auth, ctx: Ctx) -> Response:
    await do_leave_room(ctx, path_id(room_id), acting_user=requester)
    return Response(status_code=204)


@router.get("/rooms/{room_id}/members", response_model=list[MemberView])
async def list_members(room_id: str, requester: Auth, ctx: Ctx) -> list[MemberView]:
    members = await list_room_members(ctx, requester, path_id(room_id))
    return [MemberView(user_id=format_id(m.user_id), role=m.role) for m in members]


@router.post("/rooms/{room_id}/members", response_model=RoomView)
async def add_member(room_id: str, body: AddMemberBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Invite a user (any member in channels; moderators in private groups)."""
    return await do_add_member(ctx, path_id(room_id), path_id(body.user_id), acting_user=requester)


@router.delete("/rooms/{room_id}/members/{user_id}", status_code=204)
async def remove_member(room_id: str, user_id: str, requester: Auth, ctx: Ctx) -> Response:
    """Kick a member (moderators), or leave when it's the caller's own id."""
    await do_remove_member(ctx, path_id(room_id), path_id(user_id), acting_user=requester)
    return Response(status_code=204)


@router.patch("/rooms/{room_id}/members/{user_id}", status_code=204)
async def set_member_role(
    room_id: str, user_id: str, body: SetMemberRoleBody, requester: Auth, ctx: Ctx
) -> Response:
    await do_set_member_role(
        ctx, path_id(room_id), path_id(user_id), MemberRole(body.role), acting_user=requester
    )
    return Response(status_code=204)


@router.put("/rooms/{room_id}/read", response_model=ReadStateView)
async def mark_read(room_id: str, body: MarkReadBody, requester: Auth, ctx: Ctx) -> ReadStateView:
    """Move the caller's read position forward to ``position``."""
    return await do_mark_read(ctx, path_id(room_id), position=body.position, acting_user=requester)


class DmResponse(RoomView):
    created: bool


@router.post("/dms", response_model=DmResponse)
async def open_dm(body: OpenDmBody, requester: Auth, ctx: Ctx, response: Response) -> DmResponse:
    """Open the DM with these users, returning the existing one when there is one."""
    view, created = await do_open_dm(
        ctx, user_ids=[path_id(u) for u in body.user_ids], acting_user=requester
    )
    response.status_code = 201 if created else 200
    return DmResponse(**view.model_dump(), created=created)
