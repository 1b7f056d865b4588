"""Permission-checked access to uploaded files."""

from __future__ import annotations

from redoubt.core.errors import NotFound
from redoubt.domain.permissions import RoomAction
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import access_room_conn
from redoubt.storage import files as file_store
from redoubt.storage.records import FileRecord

__all__ = ["access_file", "readable_file"]


async def readable_file(ctx: Context, requester: Requester, file_id: int) -> FileRecord:
    """A file's metadata, for members of its room (others get NotFound).

    Unattached uploads are visible only to their uploader.
    """
    async with ctx.db.read("access_file") as conn:
        record = await file_store.get_file_by_id(conn, file_id)
        if record is None:
            raise NotFound
        await access_room_conn(conn, requester, record.room_id, RoomAction.READ)
    if record.message_id is None and record.uploader_id != requester.id:
        raise NotFound
    return record


async def access_file(ctx: Context, requester: Requester, file_id: int) -> tuple[FileRecord, bytes]:
    """A file's metadata and bytes, with the checks of :func:`readable_file`."""
    record = await readable_file(ctx, requester, file_id)
    try:
        return record, ctx.files.load(record.id)
    except FileNotFoundError:
        raise NotFound from None
