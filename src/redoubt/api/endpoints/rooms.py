"""Rooms, DMs, membership and read positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

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
from redoubt.api.deps import Auth, Ctx, path_id, scoped
from redoubt.api.schemas import (
    AddMemberBody,
    CreateRoomBody,
    IdStr,
    MarkReadBody,
    OpenDmBody,
    SetMemberRoleBody,
    UpdateRoomBody,
)
from redoubt.core.ids import format_id
from redoubt.domain.enums import MemberRole, RoomKind
from redoubt.domain.scopes import Scope
from redoubt.domain.views import (
    BotCommandView,
    MembershipView,
    MemberView,
    ReadStateView,
    RoomView,
)
from redoubt.queries.botapi import room_bot_commands
from redoubt.queries.rooms import get_room_view, list_directory, list_my_rooms, list_room_members

router = APIRouter(tags=["rooms"])


@router.post(
    "/rooms", openapi_extra=scoped(Scope.ROOMS_MANAGE), response_model=RoomView, status_code=201
)
async def create_room(body: CreateRoomBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Create a public channel or a private group; the creator becomes its owner."""
    return await do_create_room(
        ctx, name=body.name, kind=RoomKind(body.kind), topic=body.topic, acting_user=requester
    )


@router.get(
    "/rooms", openapi_extra=scoped(Scope.MESSAGES_READ), response_model=list[MembershipView]
)
async def my_rooms(requester: Auth, ctx: Ctx) -> list[MembershipView]:
    """The caller's rooms with role, read position, unread and mention counts."""
    return await list_my_rooms(ctx, requester)


@router.get("/directory", openapi_extra=scoped(Scope.MESSAGES_READ), response_model=list[RoomView])
async def directory(
    requester: Auth,
    ctx: Ctx,
    query: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    after: Annotated[IdStr | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RoomView]:
    """Public channels, joined or not, in id order; ``query`` matches the start of the
    name. Guests and bots can't browse."""
    return await list_directory(
        ctx, requester, query=query, limit=limit, after_id=int(after) if after else 0
    )


@router.get("/rooms/{room_id}", openapi_extra=scoped(Scope.MESSAGES_READ), response_model=RoomView)
async def get_room(room_id: str, requester: Auth, ctx: Ctx) -> RoomView:
    return await get_room_view(ctx, requester, path_id(room_id))


@router.patch("/rooms/{room_id}", openapi_extra=scoped(Scope.ROOMS_MANAGE), response_model=RoomView)
async def update_room(room_id: str, body: UpdateRoomBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Change the topic (moderators) and/or archive or unarchive (owners); a request
    refused in part changes nothing."""
    return await do_update_room(
        ctx, path_id(room_id), topic=body.topic, archived=body.archived, acting_user=requester
    )


@router.post(
    "/rooms/{room_id}/join", openapi_extra=scoped(Scope.ROOMS_MANAGE), response_model=RoomView
)
async def join_room(room_id: str, requester: Auth, ctx: Ctx) -> RoomView:
    return await do_join_room(ctx, path_id(room_id), acting_user=requester)


@router.post("/rooms/{room_id}/leave", openapi_extra=scoped(Scope.ROOMS_MANAGE), status_code=204)
async def leave_room(room_id: str, requester: Auth, ctx: Ctx) -> Response:
    await do_leave_room(ctx, path_id(room_id), acting_user=requester)
    return Response(status_code=204)


@router.get(
    "/rooms/{room_id}/members",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[MemberView],
)
async def list_members(room_id: str, requester: Auth, ctx: Ctx) -> list[MemberView]:
    members = await list_room_members(ctx, requester, path_id(room_id))
    return [MemberView(user_id=format_id(m.user_id), role=m.role) for m in members]


@router.post(
    "/rooms/{room_id}/members", openapi_extra=scoped(Scope.ROOMS_MANAGE), response_model=RoomView
)
async def add_member(room_id: str, body: AddMemberBody, requester: Auth, ctx: Ctx) -> RoomView:
    """Invite a user (any member in channels; moderators in private groups)."""
    return await do_add_member(ctx, path_id(room_id), path_id(body.user_id), acting_user=requester)


@router.delete(
    "/rooms/{room_id}/members/{user_id}", openapi_extra=scoped(Scope.ROOMS_MANAGE), status_code=204
)
async def remove_member(room_id: str, user_id: str, requester: Auth, ctx: Ctx) -> Response:
    """Kick a member (moderators), or leave when it's the caller's own id."""
    await do_remove_member(ctx, path_id(room_id), path_id(user_id), acting_user=requester)
    return Response(status_code=204)


@router.patch(
    "/rooms/{room_id}/members/{user_id}", openapi_extra=scoped(Scope.ROOMS_MANAGE), status_code=204
)
async def set_member_role(
    room_id: str, user_id: str, body: SetMemberRoleBody, requester: Auth, ctx: Ctx
) -> Response:
    await do_set_member_role(
        ctx, path_id(room_id), path_id(user_id), MemberRole(body.role), acting_user=requester
    )
    return Response(status_code=204)


@router.put(
    "/rooms/{room_id}/read",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=ReadStateView,
)
async def mark_read(room_id: str, body: MarkReadBody, requester: Auth, ctx: Ctx) -> ReadStateView:
    """Move the caller's read position forward to ``position``."""
    return await do_mark_read(ctx, path_id(room_id), position=body.position, acting_user=requester)


class DmResponse(RoomView):
    created: bool


@router.post("/dms", openapi_extra=scoped(Scope.ROOMS_MANAGE), response_model=DmResponse)
async def open_dm(body: OpenDmBody, requester: Auth, ctx: Ctx, response: Response) -> DmResponse:
    """Open the DM with these users, returning the existing one when there is one."""
    view, created = await do_open_dm(
        ctx, user_ids=[path_id(u) for u in body.user_ids], acting_user=requester
    )
    response.status_code = 201 if created else 200
    return DmResponse(**view.model_dump(), created=created)


@router.get(
    "/rooms/{room_id}/bot-commands",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_model=list[BotCommandView],
)
async def bot_commands(room_id: str, requester: Auth, ctx: Ctx) -> list[BotCommandView]:
    """The commands (setMyCommands) of the bots in the room, for ``/`` completion."""
    return await room_bot_commands(ctx, requester, path_id(room_id))
