"""Bots' inline keyboards at work: clicks, answers, and the bot editing or deleting its
own messages (editMessageText, editMessageReplyMarkup, deleteMessage).

A click names a button by position; the server looks up the button's callback_data,
records the click (its id is the opaque ``callback_query.id``) and stores an event for
the bot alone, which its getUpdates turns into a ``callback_query`` update. The bot may
answer each click once, within :data:`CALLBACK_TTL`; the answer reaches the clicker as a
``bot.callback_answer`` event.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from redoubt.actions.botapi import bot_markdown
from redoubt.actions.messages import do_delete_message, edit_message_txn, own_message_txn
from redoubt.core.errors import BadRequest, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.botmarkup import CALLBACK_TTL, InlineButton, Markup, button_at, inline_json
from redoubt.domain.enums import UserRole
from redoubt.domain.events import BotEventType, EventType
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import MessageView
from redoubt.queries.botapi import chat_room_id, message_of
from redoubt.queries.context import Context, Requester
from redoubt.queries.messages import access_message, access_message_conn, message_view
from redoubt.storage import bot_callbacks as callback_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store

__all__ = [
    "CALLBACK_TTL",
    "MAX_ANSWER_CHARS",
    "do_answer_callback",
    "do_click_button",
    "do_delete_bot_message",
    "do_edit_bot_message",
    "do_set_buttons",
]

MAX_ANSWER_CHARS = 200
_INVALID_QUERY = "query is too old and response timeout expired or query ID is invalid"
_EDIT_NOT_FOUND = "message to edit not found"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly"
    " the same as a current content and reply markup of the message"
)


async def do_click_button(
    ctx: Context, message_id: int, *, row: int, column: int, acting_user: Requester
) -> str:
    """Click the inline button at (row, column) of a bot's message; the callback id.

    Raises:
        NotFound: no such message, or one the clicker can't read.
        BadRequest: no callback button there (none, a link, a deleted message), or the
            bot has left the room.
    """
    async with ctx.db.transaction("bot_button_click") as txn:
        access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.READ)
        message = access.message
        if message.deleted:
            raise NotFound
        button = button_at(message.inline_keyboard, row, column)
        if button is None:
            raise BadRequest("No such button.")
        if button.callback_data is None:
            raise BadRequest("That button is a link, not something to click.")
        bot = await user_store.get_user_by_id(txn.conn, message.author_id)
        present = await room_store.get_membership(txn.conn, message.room_id, message.author_id)
        if bot is None or bot.role is not UserRole.BOT or not bot.is_active or present is None:
            raise BadRequest("The bot is no longer in this room.")
        callback_id = secrets.token_urlsafe(24)
        await callback_store.insert_callback_txn(
            txn.conn,
            callback_store.CallbackRecord(
                id=callback_id,
                message_id=message.id,
                bot_id=bot.id,
                user_id=acting_user.id,
                data=button.callback_data,
                created_at=txn.now,
            ),
        )
        data = {
            "callback_id": callback_id,
            "message_id": format_id(message.id),
            "room_id": format_id(message.room_id),
            "user_id": format_id(acting_user.id),
            "data": button.callback_data,
        }
        await txn.append_event(
            BotEventType.CALLBACK_QUERY,
            json.dumps(data, separators=(",", ":")),
            user_id=bot.id,
        )
    return callback_id


async def do_answer_callback(
    ctx: Context,
    *,
    callback_id: str,
    text: str | None,
    show_alert: bool,
    acting_user: Requester,
) -> None:
    """answerCallbackQuery: once per click, only by the bot whose button it was.

    Raises:
        BadRequest: unknown, another bot's, already answered or expired; text too long.
    """
    if text is not None and len(text) > MAX_ANSWER_CHARS:
        raise BadRequest("text is too long")
    async with ctx.db.transaction("bot_answer_callback") as txn:
        record = await callback_store.get_callback(txn.conn, callback_id)
        if (
            record is None
            or record.bot_id != acting_user.id
            or record.answered_at is not None
            or record.created_at < txn.now - CALLBACK_TTL
        ):
            raise BadRequest(_INVALID_QUERY)
        if not await callback_store.mark_answered_txn(txn.conn, callback_id, txn.now):
            raise BadRequest(_INVALID_QUERY)  # pragma: no cover - one writer at a time
        data = {"callback_id": callback_id, "text": text or None, "show_alert": show_alert}
        await txn.append_event(
            EventType.BOT_CALLBACK_ANSWER,
            json.dumps(data, separators=(",", ":")),
            user_id=record.user_id,
        )


async def do_edit_bot_message(
    ctx: Context,
    *,
    chat_id: int,
    message_id: int,
    text: str | None,
    parse_mode: str | None,
    markup: Markup,
    acting_user: Requester,
) -> dict[str, Any]:
    """editMessageText (``text`` given) or editMessageReplyMarkup (``text`` None) of one
    of the bot's own messages; the edited ``Message``.

    As on Telegram, the inline keyboard becomes ``markup``'s: an edit without one removes
    it. Reply keyboards can't be edited in.

    Raises:
        BadRequest: chat or message not found, not the bot's message, not modified,
            a reply keyboard, text that doesn't parse.
        Forbidden: the bot may no longer post there.
    """
    if markup.reply is not None:
        raise BadRequest("inline keyboard expected")
    markdown = bot_markdown(ctx, text, parse_mode) if text is not None else None
    keyboard = inline_json(markup.inline)
    room_id = await chat_room_id(ctx, acting_user.id, chat_id)
    async with ctx.db.transaction("bot_edit_message") as txn:
        try:
            access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.POST)
        except NotFound:
            raise BadRequest(_EDIT_NOT_FOUND) from None
        except Forbidden as exc:
            raise Forbidden(f"bot can't edit messages here ({exc.message.rstrip('.')})") from None
        message = access.message
        if message.room_id != room_id or message.deleted:
            raise BadRequest(_EDIT_NOT_FOUND)
        if message.author_id != acting_user.id:
            raise BadRequest("message can't be edited")
        new_text = markdown if markdown is not None else message.text
        if new_text == message.text and keyboard == message.inline_keyboard:
            raise BadRequest(_NOT_MODIFIED)
        view = await edit_message_txn(
            ctx, txn, message, text=new_text, editor_id=acting_user.id, inline_keyboard=keyboard
        )
    return await message_of(ctx, acting_user.id, view)


async def do_set_buttons(
    ctx: Context,
    message_id: int,
    *,
    buttons: tuple[tuple[InlineButton, ...], ...] | None,
    acting_user: Requester,
) -> MessageView:
    """Replace the inline keyboard of one of the bot's own messages (None removes it);
    the native API's form of editMessageReplyMarkup. Setting the same keyboard again
    changes nothing.

    Raises:
        NotFound: not visible, or deleted.
        Forbidden: not a bot, not the bot's message, or it may no longer post there.
    """
    keyboard = inline_json(buttons)
    async with ctx.db.transaction("bot_set_buttons") as txn:
        message = await own_message_txn(txn, acting_user, message_id)
        if acting_user.user.role is not UserRole.BOT:
            raise Forbidden("Only bots can attach buttons.")
        if keyboard == message.inline_keyboard:
            return await message_view(txn.conn, message)
        return await edit_message_txn(
            ctx, txn, message, text=message.text, editor_id=acting_user.id, inline_keyboard=keyboard
        )


async def do_delete_bot_message(
    ctx: Context, *, chat_id: int, message_id: int, acting_user: Requester
) -> None:
    """deleteMessage: the bot's own messages, or others' where the role matrix lets it
    delete any (it moderates the room).

    Raises:
        BadRequest: chat or message not found, or the bot may not delete it.
    """
    room_id = await chat_room_id(ctx, acting_user.id, chat_id)
    try:
        access = await access_message(ctx, acting_user, message_id)
    except (NotFound, Forbidden):
        raise BadRequest("message to delete not found") from None
    if access.message.room_id != room_id or access.message.deleted:
        raise BadRequest("message to delete not found")
    try:
        await do_delete_message(ctx, message_id, acting_user=acting_user)
    except (NotFound, Forbidden):
        raise BadRequest("message can't be deleted") from None
