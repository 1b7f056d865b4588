"""Bot API methods with files: getFile and its download route, sendDocument, sendPhoto,
forwardMessage, copyMessage (registered in api/endpoints/botapi.py).

Files arrive as multipart parts, either under the parameter's own name (``document``,
``photo``: python-telegram-bot) or under any name that the parameter refers to as
``attach://<name>`` (aiogram); or the parameter is the ``file_id`` of a file the bot can
read (re-sending). URLs are refused: the server never fetches what a bot names.

``getFile`` answers ``file_path`` = ``documents/<id>`` or ``photos/<id>.<ext>``: no token
and no server path. The download route ``/file/bot<token>/<file_path>`` serves the file
only if the bot can read its room, with the REST download's headers.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Response

from redoubt.actions.botapi_files import Upload, do_copy_message, do_send_file
from redoubt.api.endpoints.files import attachment_response
from redoubt.core.errors import BadRequest, NotFound
from redoubt.domain.botapi import file_of_path, parse_chat_id, parse_file_id
from redoubt.queries.botapi_files import get_file
from redoubt.queries.context import Context, Requester
from redoubt.queries.files import access_file

__all__ = ["FILE_METHODS", "BotCall", "file_download"]

_ATTACH = "attach://"


class BotCall(Protocol):
    """What these methods use of a Bot API request (botapi.py's ``_Call``)."""

    ctx: Context
    requester: Requester
    files: dict[str, Upload]

    def text(self, name: str) -> str | None: ...

    def integer(self, name: str) -> int | None: ...


def _chat(call: BotCall, name: str = "chat_id") -> int:
    raw = (call.text(name) or "").strip()
    if not raw:
        raise BadRequest(f"{name} is empty")
    chat_id = parse_chat_id(raw)
    if chat_id is None:
        raise BadRequest("chat not found")
    return chat_id


def _upload(call: BotCall, name: str) -> Upload:
    """The file a send method names in parameter ``name``."""
    part = call.files.get(name)
    if part is not None:
        return part
    value = (call.text(name) or "").strip()
    if value.startswith(_ATTACH):
        part = call.files.get(value.removeprefix(_ATTACH))
        if part is None:
            raise BadRequest(f"there is no {name} in the request")
        return part
    if not value:
        raise BadRequest(f"there is no {name} in the request")
    file_id = parse_file_id(value)
    if file_id is None:  # URLs included: the server fetches nothing for a bot
        raise BadRequest("wrong file identifier/HTTP URL specified")
    return Upload(filename="", file_id=file_id)


async def _send(call: BotCall, name: str) -> Any:
    return await do_send_file(
        call.ctx,
        chat_id=_chat(call),
        upload=_upload(call, name),
        photo=name == "photo",
        caption=call.text("caption"),
        parse_mode=call.text("parse_mode"),
        acting_user=call.requester,
    )


async def _send_document(call: BotCall) -> Any:
    return await _send(call, "document")


async def _send_photo(call: BotCall) -> Any:
    return await _send(call, "photo")


async def _get_file(call: BotCall) -> Any:
    file_id = parse_file_id(call.text("file_id") or "")
    if file_id is None:
        raise BadRequest("invalid file_id")
    return await get_file(call.ctx, call.requester, file_id)


def _message_id(call: BotCall) -> int:
    message_id = call.integer("message_id")
    if message_id is None or message_id <= 0:
        raise BadRequest("message identifier is not specified")
    return message_id


async def _copy(call: BotCall, *, forward: bool) -> dict[str, Any]:
    return await do_copy_message(
        call.ctx,
        from_chat_id=_chat(call, "from_chat_id"),
        message_id=_message_id(call),
        chat_id=_chat(call),
        caption=call.text("caption"),
        parse_mode=call.text("parse_mode"),
        forward=forward,
        acting_user=call.requester,
    )


async def _forward_message(call: BotCall) -> Any:
    return await _copy(call, forward=True)


async def _copy_message(call: BotCall) -> Any:
    return {"message_id": (await _copy(call, forward=False))["message_id"]}


FILE_METHODS = {
    "getfile": _get_file,
    "senddocument": _send_document,
    "sendphoto": _send_photo,
    "forwardmessage": _forward_message,
    "copymessage": _copy_message,
}
"""Lower-cased method name → handler."""


async def file_download(ctx: Context, requester: Requester, file_path: str) -> Response:
    """``GET /file/bot<token>/<file_path>``: the file, if the bot can read its room.

    Raises:
        NotFound: a path that names no file, or a file the bot can't read.
    """
    file_id = file_of_path(file_path)
    if file_id is None:
        raise NotFound
    record, data = await access_file(ctx, requester, file_id)
    return attachment_response(record, data)
