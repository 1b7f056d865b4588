"""Bot accounts: create, list, rotate and revoke tokens, rooms, delete.

Admin routes (``/admin/bots``) manage every bot; the self-service routes (``/bots``)
let a user manage the bots they own, and create some when an admin allows it
(``/admin/bot-settings``). All are for signed-in sessions only (no token scope): an API
token can never create a bot or see or change a bot's token, whatever its scopes.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from redoubt.actions.bot_activity import do_release_bot
from redoubt.actions.bots import (
    do_create_bot,
    do_delete_bot,
    do_revoke_bot_tokens,
    do_rotate_bot_token,
    do_set_bot_rooms,
    do_set_bot_scopes,
)
from redoubt.api.deps import Admin, Auth, Ctx, path_id
from redoubt.api.schemas import (
    CreateBotBody,
    CreateOwnBotBody,
    RotateBotTokenBody,
    SetBotRoomsBody,
    SetBotScopesBody,
)
from redoubt.core.ids import parse_id
from redoubt.domain.bots import BotView
from redoubt.domain.enums import UserRole
from redoubt.queries.bots import get_bot_view, list_bot_views, list_owned_bot_views
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import read_user_bot_policy

router = APIRouter(tags=["bots"])

_NO_STORE = {"Cache-Control": "no-store"}


class CreatedBot(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    bot: BotView
    token: str = Field(repr=False)
    """The bot's token, shown this once (``<bot id>:<secret>``, as Telegram clients
    expect). The server keeps only its hash."""


class NewBotToken(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    token: str = Field(repr=False)
    """The bot's new token, shown this once."""


def _ids(values: list[str]) -> list[int]:
    return [parse_id(v) or 0 for v in values]


async def _create(
    ctx: Context, acting_user: Requester, body: CreateOwnBotBody, owner_id: int, response: Response
) -> CreatedBot:
    """Create the bot ``body`` describes for ``owner_id``; its token, shown once."""
    bot, _user, token = await do_create_bot(
        ctx,
        acting_user=acting_user,
        username=body.username,
        display_name=body.display_name,
        description=body.description,
        owner_id=owner_id,
        room_ids=_ids(body.room_ids),
        networks=body.networks,
        scopes=body.scopes,
    )
    response.headers.update(_NO_STORE)
    return CreatedBot(bot=await get_bot_view(ctx, bot.user_id), token=token)


@router.get("/admin/bots", response_model=list[BotView])
async def list_bots(admin: Admin, ctx: Ctx) -> list[BotView]:
    """Every bot account, with its owner, allowed rooms and token hint."""
    return await list_bot_views(ctx)


@router.post("/admin/bots", response_model=CreatedBot, status_code=201)
async def create_bot(body: CreateBotBody, admin: Admin, ctx: Ctx, response: Response) -> CreatedBot:
    """Create a bot account; its token is in this answer only."""
    return await _create(ctx, admin, body, parse_id(body.owner_id) or 0, response)


@router.post("/admin/bots/{bot_id}/token", response_model=NewBotToken)
async def rotate_bot_token(
    bot_id: str, body: RotateBotTokenBody, admin: Admin, ctx: Ctx, response: Response
) -> NewBotToken:
    """Issue a new token; the current one keeps working for ``grace_hours`` more."""
    token = await do_rotate_bot_token(
        ctx, acting_user=admin, bot_id=path_id(bot_id), grace_hours=body.grace_hours
    )
    response.headers.update(_NO_STORE)
    return NewBotToken(token=token)


@router.delete("/admin/bots/{bot_id}/token", status_code=204)
async def revoke_bot_tokens(bot_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Revoke every token of the bot at once (a new one: ``POST .../token``)."""
    await do_revoke_bot_tokens(ctx, acting_user=admin, bot_id=path_id(bot_id))
    return Response(status_code=204)


@router.put("/admin/bots/{bot_id}/rooms", response_model=BotView)
async def set_bot_rooms(bot_id: str, body: SetBotRoomsBody, admin: Admin, ctx: Ctx) -> BotView:
    """Replace the rooms the bot may be added to; it leaves those no longer listed."""
    bot = path_id(bot_id)
    await do_set_bot_rooms(ctx, acting_user=admin, bot_id=bot, room_ids=_ids(body.room_ids))
    return await get_bot_view(ctx, bot)


@router.put("/admin/bots/{bot_id}/scopes", response_model=BotView)
async def set_bot_scopes(bot_id: str, body: SetBotScopesBody, admin: Admin, ctx: Ctx) -> BotView:
    """Replace what the bot's token may do on the native REST API (never ``admin``)."""
    bot = path_id(bot_id)
    await do_set_bot_scopes(ctx, acting_user=admin, bot_id=bot, scopes=list(body.scopes))
    return await get_bot_view(ctx, bot)


@router.post("/admin/bots/{bot_id}/release", response_model=BotView)
async def release_bot(bot_id: str, admin: Admin, ctx: Ctx) -> BotView:
    """Release a quarantined bot: its token works for writes again (audited)."""
    bot = path_id(bot_id)
    await do_release_bot(ctx, acting_user=admin, bot_id=bot)
    return await get_bot_view(ctx, bot)


@router.delete("/admin/bots/{bot_id}", status_code=204)
async def delete_bot(bot_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Delete a bot: its account is deactivated and its tokens revoked."""
    await do_delete_bot(ctx, acting_user=admin, bot_id=path_id(bot_id))
    return Response(status_code=204)


# --- a user's own bots (self-service) ------------------------------------------------


class OwnBotPolicy(BaseModel):
    users_may_create_bots: bool
    """Whether the server lets users create bots they own."""
    max_bots_per_user: int
    """How many active bots one user may own through self-service."""
    may_create: bool
    """Whether the caller may create one now (a user while it is allowed, or an admin);
    their current count against the limit is the length of ``GET /bots``."""


@router.get("/bot-policy", response_model=OwnBotPolicy)
async def own_bot_policy(user: Auth, ctx: Ctx) -> OwnBotPolicy:
    """Whether users may create their own bots here, and how many (any signed-in user)."""
    policy = await read_user_bot_policy(ctx)
    role = user.user.role
    return OwnBotPolicy(
        users_may_create_bots=policy.users_may_create_bots,
        max_bots_per_user=policy.max_bots_per_user,
        may_create=role is UserRole.ADMIN
        or (role is UserRole.USER and policy.users_may_create_bots),
    )


@router.get("/bots", response_model=list[BotView])
async def list_own_bots(user: Auth, ctx: Ctx) -> list[BotView]:
    """The bots you own, with their allowed rooms and token hints."""
    return await list_owned_bot_views(ctx, user.id)


@router.post("/bots", response_model=CreatedBot, status_code=201)
async def create_own_bot(
    body: CreateOwnBotBody, user: Auth, ctx: Ctx, response: Response
) -> CreatedBot:
    """Create a bot you own, when the server allows it (``403`` otherwise), within the
    per-user limit (``409`` past it), with rooms you own or moderate only (``403``
    otherwise); its token is in this answer only."""
    return await _create(ctx, user, body, user.id, response)


@router.post("/bots/{bot_id}/token", response_model=NewBotToken)
async def rotate_own_bot_token(
    bot_id: str, body: RotateBotTokenBody, user: Auth, ctx: Ctx, response: Response
) -> NewBotToken:
    """Issue a new token for your bot; the current one keeps working ``grace_hours``
    more. Another user's bot: ``404``."""
    token = await do_rotate_bot_token(
        ctx, acting_user=user, bot_id=path_id(bot_id), grace_hours=body.grace_hours, own_only=True
    )
    response.headers.update(_NO_STORE)
    return NewBotToken(token=token)


@router.delete("/bots/{bot_id}/token", status_code=204)
async def revoke_own_bot_tokens(bot_id: str, user: Auth, ctx: Ctx) -> Response:
    """Revoke every token of your bot at once."""
    await do_revoke_bot_tokens(ctx, acting_user=user, bot_id=path_id(bot_id), own_only=True)
    return Response(status_code=204)


@router.put("/bots/{bot_id}/rooms", response_model=BotView)
async def set_own_bot_rooms(bot_id: str, body: SetBotRoomsBody, user: Auth, ctx: Ctx) -> BotView:
    """Replace the rooms your bot may be added to (rooms you own or moderate); it leaves
    those no longer listed."""
    bot = path_id(bot_id)
    await do_set_bot_rooms(
        ctx, acting_user=user, bot_id=bot, room_ids=_ids(body.room_ids), own_only=True
    )
    return await get_bot_view(ctx, bot)


@router.delete("/bots/{bot_id}", status_code=204)
async def delete_own_bot(bot_id: str, user: Auth, ctx: Ctx) -> Response:
    """Delete your bot: its account is deactivated and its tokens revoked."""
    await do_delete_bot(ctx, acting_user=user, bot_id=path_id(bot_id), own_only=True)
    return Response(status_code=204)
