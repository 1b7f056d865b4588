"""Security notices for the signed-in user ("a new device logged in")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from redoubt.actions.notices import do_mark_notice_read
from redoubt.api.deps import Auth, Ctx, path_id
from redoubt.core.ids import format_id
from redoubt.queries.notices import list_my_notices

router = APIRouter(prefix="/users/me/notices", tags=["users"])


class NoticeView(BaseModel):
    id: str
    kind: str
    """``new_device_login``: details hold the ``ip`` and ``user_agent`` of that login."""
    details: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None


@router.get("", response_model=list[NoticeView])
async def my_notices(
    requester: Auth, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NoticeView]:
    """Your security notices, newest first."""
    return [
        NoticeView(
            id=format_id(n.id),
            kind=n.kind,
            details=n.details,
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n in await list_my_notices(ctx, requester, limit=limit)
    ]


@router.post("/{notice_id}/read", status_code=204)
async def mark_read(notice_id: str, requester: Auth, ctx: Ctx) -> Response:
    """Mark one of your notices as read."""
    await do_mark_notice_read(ctx, acting_user=requester, notice_id=path_id(notice_id))
    return Response(status_code=204)
