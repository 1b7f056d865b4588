"""Full-text search over the caller's rooms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from redoubt.actions.bot_activity import note_bot_history
from redoubt.api.deps import Auth, Ctx, path_id, scoped
from redoubt.domain.scopes import Scope
from redoubt.domain.views import MessageView
from redoubt.queries.messages import search

router = APIRouter(tags=["search"])


@router.get("/search", openapi_extra=scoped(Scope.MESSAGES_READ), response_model=list[MessageView])
async def search_messages(
    *,
    requester: Auth,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=256)],
    room_id: Annotated[str | None, Query(max_length=20)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[MessageView]:
    """Messages matching every word of ``q`` in rooms the caller belongs to, newest
    first; page with ``before`` (a position)."""
    found = await search(
        ctx,
        requester,
        q,
        room_id=path_id(room_id) if room_id is not None else None,
        before_position=before,
        limit=limit,
    )
    await note_bot_history(ctx, requester)
    return found
