"""Uploads: size-limited, type sniffed from the bytes, stored by id outside any web root."""

from __future__ import annotations

import hashlib
import unicodedata

import puremagic

from redoubt.core.errors import PayloadTooLarge
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import FileView
from redoubt.queries.context import Context, Requester
from redoubt.queries.messages import file_view
from redoubt.queries.rooms import access_room, access_room_conn
from redoubt.storage import files as file_store
from redoubt.storage.records import FileRecord

__all__ = ["INLINE_SAFE_TYPES", "do_upload_file", "sanitize_filename", "sniff_content_type"]

# Types recorded as what they are. Everything else, including whatever the client
# claimed, is stored as application/octet-stream. HTML and SVG are never in this list:
# they can carry script. (Downloads are attachments with nosniff regardless.)
INLINE_SAFE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "audio/mpeg",
        "audio/ogg",
        "video/mp4",
        "video/webm",
    }
)
_MAX_NAME = 200


def sniff_content_type(data: bytes) -> str:
    """The content type the bytes show, limited to :data:`INLINE_SAFE_TYPES`."""
    try:
        candidates = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        return "application/octet-stream"
    for candidate in candidates:
        mime = (candidate.mime_type or "").lower()
        if mime in INLINE_SAFE_TYPES:
            return mime
    return "application/octet-stream"


def sanitize_filename(name: str) -> str:
    """A display name for the file: no path parts, no control characters, bounded."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:_MAX_NAME] or "file"


async def do_upload_file(
    ctx: Context, room_id: int, *, filename: str, data: bytes, acting_user: Requester
) -> FileView:
    """Store an upload for later attachment to a message in ``room_id``.

    Raises:
        NotFound / Forbidden: the actor may not post in the room.
        PayloadTooLarge: over the configured size limit.
    """
    if len(data) > ctx.settings.max_upload_bytes:
        raise PayloadTooLarge
    await access_room(ctx, acting_user, room_id, RoomAction.POST)
    record = FileRecord(
        id=ctx.ids.next_id(),
        room_id=room_id,
        uploader_id=acting_user.id,
        message_id=None,
        filename=sanitize_filename(filename),
        content_type=sniff_content_type(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        created_at=ctx.clock.now(),
    )
    ctx.files.save(record.id, data)
    try:
        async with ctx.db.transaction("upload_file") as txn:
            # Re-checked inside the write: membership may have changed meanwhile.
            await access_room_conn(txn.conn, acting_user, room_id, RoomAction.POST)
            await file_store.insert_file_txn(txn.conn, record)
    except BaseException:
        ctx.files.delete(record.id)
        raise
    return file_view(record)
