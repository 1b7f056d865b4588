"""Files for the Telegram-compatible Bot API: how a file looks to a bot (``photo`` /
``document``, getFile's ``File``), and the messages a bot may copy or forward.

A ``file_id`` is the file's id and grants nothing by itself: getFile, the download
route and re-sending by ``file_id`` all check that the bot can read the file's room,
exactly as the REST download does (queries/files.py).
"""

from __future__ import annotations

from typing import Any

from redoubt.core.errors import BadRequest, Forbidden, NotFound
from redoubt.domain.botapi import (
    IMAGE_HEAD_BYTES,
    PHOTO_TYPES,
    BotFile,
    file_object,
    image_size,
)
from redoubt.domain.views import FileView, MessageView
from redoubt.queries.context import Context, Requester
from redoubt.queries.files import readable_file
from redoubt.queries.messages import access_message_conn, message_view
from redoubt.storage.filestore import LocalFileStore
from redoubt.storage.records import FileRecord

__all__ = ["WRONG_FILE", "bot_file", "bot_files", "get_file", "message_to_copy"]

WRONG_FILE = "wrong file_id or the file is temporarily unavailable"


def bot_file(store: LocalFileStore, file: FileView | FileRecord) -> BotFile:
    """A file as the Bot API shows it; an image's size comes from its header."""
    file_id = int(file.id)
    width = height = None
    if file.content_type in PHOTO_TYPES:
        size = image_size(store.head(file_id, IMAGE_HEAD_BYTES))
        if size is not None:
            width, height = size
    return BotFile(
        id=file_id,
        filename=file.filename,
        content_type=file.content_type,
        size=file.size,
        width=width,
        height=height,
    )


def bot_files(store: LocalFileStore | None, view: MessageView) -> list[BotFile]:
    """The file a message shows a bot (the first: a Telegram message holds one)."""
    if store is None or not view.files:
        return []
    return [bot_file(store, view.files[0])]


async def get_file(ctx: Context, requester: Requester, file_id: int) -> dict[str, Any]:
    """getFile's ``File`` for a file the bot can read.

    Raises:
        BadRequest: no such file, or one in a room the bot isn't in (one answer, so a
            file id tells nothing about files elsewhere).
    """
    try:
        record = await readable_file(ctx, requester, file_id)
    except NotFound:
        raise BadRequest(WRONG_FILE) from None
    return file_object(bot_file(ctx.files, record))


async def message_to_copy(
    ctx: Context, requester: Requester, room_id: int, message_id: int
) -> MessageView:
    """A message of ``room_id`` the bot can read (for forwardMessage / copyMessage).

    Raises:
        BadRequest: no such message there, deleted, or not readable by the bot.
    """
    try:
        async with ctx.db.read("botapi_copy") as conn:
            access = await access_message_conn(conn, requester, message_id)
            if access.message.room_id != room_id or access.message.deleted:
                raise NotFound
            return await message_view(conn, access.message)
    except (NotFound, Forbidden):
        raise BadRequest("message to copy not found") from None
