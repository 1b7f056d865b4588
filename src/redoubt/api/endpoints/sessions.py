"""Signed-in devices: list them, end one, end all others; admins do it for anyone."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from redoubt.actions.auth import do_end_sessions
from redoubt.api.deps import Admin, Auth, Ctx, path_id
from redoubt.core.ids import format_id
from redoubt.domain.views import SessionView
from redoubt.queries.auth import list_sessions
from redoubt.queries.context import Requester
from redoubt.storage.records import SessionRecord

router = APIRouter(tags=["sessions"])


class EndedResponse(BaseModel):
    ended: int


def _view(session: SessionRecord, requester: Requester) -> SessionView:
    return SessionView(
        id=format_id(session.id),
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        ip=session.ip,
        user_agent=session.user_agent,
        current=session.id == requester.session_id,
    )


@router.get("/sessions", response_model=list[SessionView])
async def my_sessions(requester: Auth, ctx: Ctx) -> list[SessionView]:
    """Your signed-in devices, most recently used first, with address and last use."""
    return [_view(s, requester) for s in await list_sessions(ctx, requester, requester.id)]


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(session_id: str, requester: Auth, ctx: Ctx) -> Response:
    """Sign one of your devices out (its event stream closes at once)."""
    await do_end_sessions(
        ctx, acting_user=requester, user_id=requester.id, session_ids=[path_id(session_id)]
    )
    return Response(status_code=204)


@router.delete("/sessions", response_model=EndedResponse)
async def end_other_sessions(requester: Auth, ctx: Ctx) -> EndedResponse:
    """Sign out everywhere else: every session but this one ends."""
    ended = await do_end_sessions(
        ctx, acting_user=requester, user_id=requester.id, keep_current=True
    )
    return EndedResponse(ended=ended)


@router.get("/admin/users/{user_id}/sessions", response_model=list[SessionView])
async def user_sessions(user_id: str, admin: Admin, ctx: Ctx) -> list[SessionView]:
    """An account's signed-in devices (admins)."""
    return [_view(s, admin) for s in await list_sessions(ctx, admin, path_id(user_id))]


@router.delete("/admin/users/{user_id}/sessions", response_model=EndedResponse)
async def end_user_sessions(user_id: str, admin: Admin, ctx: Ctx) -> EndedResponse:
    """Sign an account out everywhere (admins); its event streams close at once."""
    ended = await do_end_sessions(ctx, acting_user=admin, user_id=path_id(user_id))
    return EndedResponse(ended=ended)
