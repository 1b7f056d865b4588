"""Bot API writes with files: sendDocument, sendPhoto, forwardMessage, copyMessage.

Every file goes through the ordinary upload path (``do_upload_file``: size limit,
type sniffed from the bytes, membership re-checked inside the write) and is posted with
``do_post_message``, both as the bot's own user, so a bot can't do with files anything
its account couldn't do through the REST API. Re-sending by ``file_id`` and copying a
message copy the bytes into the target room after checking that the bot can read the
source; nothing is shared by reference across rooms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redoubt.actions.files import do_upload_file, sniff_content_type
from redoubt.actions.messages import do_post_message
from redoubt.core.errors import BadRequest, Forbidden, NotFound
from redoubt.domain.botapi import (
    CHAT_NOT_FOUND,
    IMAGE_HEAD_BYTES,
    PHOTO_TYPES,
    EntityParseError,
    image_size,
    render_text,
)
from redoubt.queries.botapi import chat_room_id, message_of
from redoubt.queries.botapi_files import WRONG_FILE, message_to_copy
from redoubt.queries.context import Context, Requester
from redoubt.queries.files import access_file

__all__ = ["MAX_CAPTION_CHARS", "Upload", "do_copy_message", "do_send_file"]

MAX_CAPTION_CHARS = 1024
"""Telegram's limit for a caption, after entity parsing."""


@dataclass(frozen=True)
class Upload:
    """A file a bot sends: bytes from the request, or the id of a file it can read."""

    filename: str
    data: bytes = field(default=b"", repr=False)
    file_id: int | None = None


def _caption(ctx: Context, caption: str | None, parse_mode: str | None) -> str:
    if not caption:
        return ""
    if len(caption) > MAX_CAPTION_CHARS:
        raise BadRequest("message caption is too long")
    try:
        markdown = render_text(caption, parse_mode)
    except EntityParseError as exc:
        raise BadRequest(str(exc)) from None
    if len(markdown) > ctx.settings.max_message_chars:
        raise BadRequest("message caption is too long")
    return markdown


async def _readable_bytes(ctx: Context, acting_user: Requester, file_id: int) -> tuple[str, bytes]:
    try:
        record, data = await access_file(ctx, acting_user, file_id)
    except NotFound:
        raise BadRequest(WRONG_FILE) from None
    return record.filename, data


async def _post(
    ctx: Context,
    room_id: int,
    text: str,
    files: Sequence[tuple[str, bytes]],
    acting_user: Requester,
) -> dict[str, Any]:
    """Upload ``files`` into the room and post them with ``text``, as the bot."""
    try:
        uploaded = [
            await do_upload_file(ctx, room_id, filename=name, data=data, acting_user=acting_user)
            for name, data in files
        ]
        view = await do_post_message(
            ctx,
            room_id,
            text=text,
            thread_id=None,
            client_id=None,
            file_ids=[int(f.id) for f in uploaded],
            acting_user=acting_user,
        )
    except NotFound:
        raise BadRequest(CHAT_NOT_FOUND) from None
    except Forbidden as exc:
        raise Forbidden(
            f"bot can't send messages to this chat ({exc.message.rstrip('.')})"
        ) from None
    return await message_of(ctx, acting_user.id, view)


async def do_send_file(
    ctx: Context,
    *,
    chat_id: int,
    upload: Upload,
    photo: bool,
    caption: str | None,
    parse_mode: str | None,
    acting_user: Requester,
) -> dict[str, Any]:
    """sendDocument / sendPhoto: the ``Message`` the file (and caption) became.

    Raises:
        BadRequest: chat not found, a file id the bot can't read, a photo that isn't a
            PNG/JPEG/GIF/WebP image with a readable size, a bad caption.
        Forbidden: the bot may not post there.
        PayloadTooLarge: over the upload limit.
    """
    text = _caption(ctx, caption, parse_mode)
    room_id = await chat_room_id(ctx, acting_user.id, chat_id)
    filename, data = upload.filename, upload.data
    if upload.file_id is not None:
        filename, data = await _readable_bytes(ctx, acting_user, upload.file_id)
    if photo and (
        sniff_content_type(data) not in PHOTO_TYPES or image_size(data[:IMAGE_HEAD_BYTES]) is None
    ):
        raise BadRequest("IMAGE_PROCESS_FAILED")
    return await _post(ctx, room_id, text, [(filename, data)], acting_user)


async def do_copy_message(
    ctx: Context,
    *,
    from_chat_id: int,
    message_id: int,
    chat_id: int,
    caption: str | None,
    parse_mode: str | None,
    forward: bool,
    acting_user: Requester,
) -> dict[str, Any]:
    """copyMessage / forwardMessage: post a copy of a message the bot can read (its
    text, or a new caption, and copies of its files) into ``chat_id``.

    A forward's answer names the original sender in ``forward_origin``; the posted
    copy itself is an ordinary message of the bot.

    Raises:
        BadRequest: either chat not found, no such message there (or deleted, or not
            readable), nothing to copy (a message of webhook attachments only).
        Forbidden: the bot may not post in ``chat_id``.
    """
    source_room = await chat_room_id(ctx, acting_user.id, from_chat_id)
    view = await message_to_copy(ctx, acting_user, source_room, message_id)
    target_room = await chat_room_id(ctx, acting_user.id, chat_id)
    text = view.text if caption is None or forward else _caption(ctx, caption, parse_mode)
    files = [await _readable_bytes(ctx, acting_user, int(f.id)) for f in view.files]
    if not text.strip() and not files:
        raise BadRequest("the message can't be copied")
    result = await _post(ctx, target_room, text, files, acting_user)
    if forward:
        original = await message_of(ctx, acting_user.id, view)
        result["forward_origin"] = {
            "type": "user",
            "date": original["date"],
            "sender_user": original["from"],
        }
    return result
