"""A user's security notices."""

from __future__ import annotations

from redoubt.queries.context import Context, Requester
from redoubt.storage import notices as notice_store
from redoubt.storage.notices import NoticeRecord

__all__ = ["list_my_notices"]


async def list_my_notices(ctx: Context, requester: Requester, *, limit: int) -> list[NoticeRecord]:
    """Newest first; only the caller's own."""
    async with ctx.db.read("list_notices") as conn:
        return await notice_store.list_notices(conn, requester.id, limit=limit)
