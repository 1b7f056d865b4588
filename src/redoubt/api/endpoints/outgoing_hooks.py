"""Outgoing webhooks (admins only): events in chosen rooms, POSTed signed to a URL.

Receivers verify ``X-Redoubt-Signature: v1=<hex HMAC-SHA256(secret, "<ts>." + body)>``
with ``X-Redoubt-Timestamp``, and de-duplicate on ``X-Redoubt-Delivery`` (delivery is at
least once). The secret is shown once, when the hook is created and when it is rotated.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from redoubt.actions.outgoing_hooks import (
    do_create_outgoing_hook,
    do_delete_outgoing_hook,
    do_rotate_outgoing_hook_secret,
    do_update_outgoing_hook,
)
from redoubt.api.deps import Admin, Ctx, path_id
from redoubt.api.schemas import CreateOutgoingHookBody, IdStr, UpdateOutgoingHookBody
from redoubt.domain.outgoing_hooks import DeliveryView, HookEvent, OutgoingHookView
from redoubt.queries.outgoing_hooks import list_hook_deliveries, list_outgoing_hooks

router = APIRouter(prefix="/admin/hooks/outgoing", tags=["integrations"])

_NO_STORE = "no-store"
"""For answers that hold secrets: no cache (browser or proxy) may keep a copy."""


class CreatedOutgoingHookResponse(BaseModel):
    hook: OutgoingHookView
    secret: str = Field(repr=False)
    """The signing secret (``rdt_whs_…``), shown this once."""


class HookSecretResponse(BaseModel):
    secret: str = Field(repr=False)
    """The new signing secret, shown this once; the old one stops at once."""


@router.get("", response_model=list[OutgoingHookView])
async def outgoing_hooks(admin: Admin, ctx: Ctx) -> list[OutgoingHookView]:
    """Every outgoing webhook (never its secret)."""
    return await list_outgoing_hooks(ctx, admin)


@router.post("", response_model=CreatedOutgoingHookResponse, status_code=201)
async def create_outgoing_hook(
    body: CreateOutgoingHookBody, admin: Admin, ctx: Ctx, response: Response
) -> CreatedOutgoingHookResponse:
    """Create a hook owned by you. ``400`` when the URL breaks the egress policy
    (scheme, port, an internal address) or a room is a DM; ``404`` for a room you
    can't see."""
    created = await do_create_outgoing_hook(
        ctx,
        name=body.name,
        url=body.url,
        room_ids=[path_id(r) for r in body.room_ids],
        events=[HookEvent(e) for e in body.events],
        trigger_words=body.trigger_words,
        acting_user=admin,
    )
    response.headers["Cache-Control"] = _NO_STORE
    return CreatedOutgoingHookResponse(hook=created.hook, secret=created.secret)


@router.patch("/{hook_id}", response_model=OutgoingHookView)
async def update_outgoing_hook(
    hook_id: str, body: UpdateOutgoingHookBody, admin: Admin, ctx: Ctx
) -> OutgoingHookView:
    """Change what is given. ``enabled: true`` turns a hook that was disabled after
    failures back on; its waiting deliveries go out."""
    return await do_update_outgoing_hook(
        ctx,
        path_id(hook_id),
        name=body.name,
        url=body.url,
        room_ids=[path_id(r) for r in body.room_ids] if body.room_ids is not None else None,
        events=[HookEvent(e) for e in body.events] if body.events is not None else None,
        trigger_words=body.trigger_words,
        enabled=body.enabled,
        acting_user=admin,
    )


@router.post("/{hook_id}/secret", response_model=HookSecretResponse)
async def rotate_outgoing_hook_secret(
    hook_id: str, admin: Admin, ctx: Ctx, response: Response
) -> HookSecretResponse:
    """A new signing secret (shown this once); the old one is no longer used."""
    secret = await do_rotate_outgoing_hook_secret(ctx, path_id(hook_id), acting_user=admin)
    response.headers["Cache-Control"] = _NO_STORE
    return HookSecretResponse(secret=secret)


@router.delete("/{hook_id}", status_code=204)
async def delete_outgoing_hook(hook_id: str, admin: Admin, ctx: Ctx) -> Response:
    """Delete the hook and its deliveries, sent or not."""
    await do_delete_outgoing_hook(ctx, path_id(hook_id), acting_user=admin)
    return Response(status_code=204)


@router.get("/{hook_id}/deliveries", response_model=list[DeliveryView])
async def outgoing_hook_deliveries(
    hook_id: str,
    admin: Admin,
    ctx: Ctx,
    before: Annotated[IdStr | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryView]:
    """The hook's deliveries, newest first; page with ``before`` (a delivery id)."""
    return await list_hook_deliveries(
        ctx, admin, path_id(hook_id), limit=limit, before_id=int(before) if before else None
    )
