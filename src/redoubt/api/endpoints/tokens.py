"""Personal access tokens: create, list, rotate, revoke, and what each one did.

Every route here is for signed-in sessions only (no token scope): a token can never
create, rotate or see another token, whatever its scopes.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from redoubt.actions.api_tokens import do_create_token, do_revoke_token, do_rotate_token
from redoubt.api.deps import Admin, Auth, Ctx, path_id
from redoubt.api.schemas import CreateTokenBody, RotateTokenBody
from redoubt.core.ids import parse_id
from redoubt.domain.scopes import Scope
from redoubt.domain.tokens import TokenUsageView, TokenView
from redoubt.queries.api_tokens import (
    get_token_activity,
    list_all_tokens,
    list_my_tokens,
    token_view,
)

router = APIRouter(tags=["tokens"])


class ScopeInfo(BaseModel):
    scope: str
    description: str


class TokenPolicy(BaseModel):
    scopes: list[ScopeInfo]
    default_days: int
    max_days: int | None
    """None: tokens may be made to never expire."""
    max_grace_hours: int


class CreatedToken(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    token: TokenView
    secret: str = Field(repr=False)
    """The token itself, shown this once; send it as ``Authorization: Bearer <secret>``."""


class TokenActivity(BaseModel):
    token: TokenView
    usage: list[TokenUsageView]
    """Requests per hour, address range and route, newest first (four weeks)."""


@router.get("/token-policy", response_model=TokenPolicy)
async def token_policy(requester: Auth, ctx: Ctx) -> TokenPolicy:
    """The scopes a token can have, and the expiry and grace limits the admin set."""
    s = ctx.settings
    default = s.api_token_default_days
    if s.api_token_max_days is not None:
        default = min(default, s.api_token_max_days)
    return TokenPolicy(
        scopes=[ScopeInfo(scope=sc.value, description=sc.description) for sc in Scope],
        default_days=default,
        max_days=s.api_token_max_days,
        max_grace_hours=s.api_token_max_grace_hours,
    )


@router.get("/tokens", response_model=list[TokenView])
async def my_tokens(requester: Auth, ctx: Ctx) -> list[TokenView]:
    """Your API tokens, newest first (revoked and expired ones too, marked so)."""
    return await list_my_tokens(ctx, requester)


@router.post("/tokens", response_model=CreatedToken, status_code=201)
async def create_token(body: CreateTokenBody, requester: Auth, ctx: Ctx) -> CreatedToken:
    """Create a token with the scopes, rooms, address ranges and expiry you choose.

    The token is in this answer only; the server keeps just its hash.
    """
    room_ids = None
    if body.room_ids is not None:
        room_ids = [parse_id(r) or 0 for r in body.room_ids]
    record, secret = await do_create_token(
        ctx,
        acting_user=requester,
        name=body.name,
        scopes=[Scope(s) for s in body.scopes],
        room_ids=room_ids,
        networks=body.networks,
        expires_in_days=body.expires_in_days,
    )
    return CreatedToken(token=token_view(ctx, record), secret=secret)


@router.post("/tokens/{token_id}/rotate", response_model=CreatedToken, status_code=201)
async def rotate_token(
    token_id: str, body: RotateTokenBody, requester: Auth, ctx: Ctx
) -> CreatedToken:
    """Replace a token with a new one; the old one works for ``grace_hours`` more."""
    record, secret = await do_rotate_token(
        ctx, acting_user=requester, token_id=path_id(token_id), grace_hours=body.grace_hours
    )
    return CreatedToken(token=token_view(ctx, record), secret=secret)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, requester: Auth, ctx: Ctx) -> Response:
    """Revoke one of your tokens; it stops working at once."""
    await do_revoke_token(ctx, acting_user=requester, token_id=path_id(token_id))
    return Response(status_code=204)


@router.get("/tokens/{token_id}/activity", response_model=TokenActivity)
async def token_activity(token_id: str, requester: Auth, ctx: Ctx) -> TokenActivity:
    """What one of your tokens did: requests per hour, address range and route."""
    token, usage = await get_token_activity(ctx, requester, path_id(token_id))
    return TokenActivity(token=token, usage=usage)


@router.get("/admin/tokens", response_model=list[TokenView])
async def all_tokens(admin: Admin, ctx: Ctx) -> list[TokenView]:
    """Every user's API tokens, with their owners."""
    return await list_all_tokens(ctx)


@router.delete("/admin/tokens/{token_id}", status_code=204)
async def admin_revoke_token(token_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Revoke anyone's token (audited)."""
    await do_revoke_token(ctx, acting_user=admin, token_id=path_id(token_id))
    return Response(status_code=204)
