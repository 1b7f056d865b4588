"""Writes of the Telegram-compatible Bot API: sendMessage, confirming updates, commands.

A bot posts through the ordinary post pipeline (``do_post_message``) as its own user, so
room membership, the role matrix, archiving and mention rules apply unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redoubt.actions._common import audit
from redoubt.actions.messages import post_message_txn
from redoubt.core.errors import BadRequest, Forbidden, NotFound
from redoubt.domain.botapi import CHAT_NOT_FOUND, EntityParseError, render_text
from redoubt.domain.botmarkup import Markup, inline_json, reply_json
from redoubt.queries.botapi import chat_room_id, message_of
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import QUARANTINED_MESSAGE
from redoubt.storage import bots as bot_store

__all__ = [
    "MAX_COMMANDS",
    "bot_markdown",
    "do_confirm_updates",
    "do_send_message",
    "do_set_commands",
]

MAX_COMMANDS = 100
MAX_TEXT_CHARS = 4096
"""Telegram's limit for a message's text, after entity parsing."""


def bot_markdown(ctx: Context, text: str, parse_mode: str | None) -> str:
    """A bot's message text (in ``parse_mode``) as our markdown, checked.

    Raises:
        BadRequest: empty or over-long text, text that doesn't parse.
    """
    if not text.strip():
        raise BadRequest("message text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest("message is too long")
    try:
        markdown = render_text(text, parse_mode)
    except EntityParseError as exc:
        raise BadRequest(str(exc)) from None
    if not markdown.strip():
        raise BadRequest("message text is empty")
    if len(markdown) > ctx.settings.max_message_chars:
        raise BadRequest("message is too long")
    return markdown


async def do_send_message(
    ctx: Context,
    *,
    chat_id: int,
    text: str,
    parse_mode: str | None,
    acting_user: Requester,
    markup: Markup | None = None,
) -> dict[str, Any]:
    """Post ``text`` (in ``parse_mode``, with checked ``markup``) as the bot; the
    ``Message`` it became.

    Raises:
        BadRequest: chat not found, empty or over-long text, text that doesn't parse.
        Forbidden: the bot may not post there (not a member, archived room).
    """
    markdown = bot_markdown(ctx, text, parse_mode)
    room_id = await chat_room_id(ctx, acting_user.id, chat_id)
    markup = markup or Markup()
    try:
        async with ctx.db.transaction("botapi_send_message") as txn:
            view = await post_message_txn(
                ctx,
                txn,
                room_id,
                text=markdown,
                thread_id=None,
                client_id=None,
                file_ids=(),
                acting_user=acting_user,
                inline_keyboard=inline_json(markup.inline),
                reply_keyboard=reply_json(markup.reply),
            )
    except NotFound:
        raise BadRequest(CHAT_NOT_FOUND) from None
    except Forbidden as exc:
        if exc.message == QUARANTINED_MESSAGE:
            raise  # T7: the post broke an activity rule; the bot is quarantined
        raise Forbidden(
            f"bot can't send messages to this chat ({exc.message.rstrip('.')})"
        ) from None
    return await message_of(ctx, acting_user.id, view)


async def do_confirm_updates(ctx: Context, *, offset: int, acting_user: Requester) -> None:
    """Store the bot's confirmed getUpdates offset (it only moves forward)."""
    async with ctx.db.transaction("botapi_confirm") as txn:
        await bot_store.set_updates_offset_txn(txn.conn, acting_user.id, offset)


async def do_set_commands(
    ctx: Context, *, commands: Sequence[dict[str, str]], acting_user: Requester
) -> None:
    """Replace the bot's command list (setMyCommands; an empty list deletes it).

    The caller validated each command's shape.
    """
    if len(commands) > MAX_COMMANDS:
        raise BadRequest("too many commands")
    async with ctx.db.transaction("botapi_set_commands") as txn:
        await bot_store.set_commands_txn(
            txn.conn, acting_user.id, json.dumps(list(commands), separators=(",", ":"))
        )
        await audit(
            ctx,
            txn,
            "bot.commands_set",
            acting_user=acting_user,
            target_type="bot",
            target_id=acting_user.id,
            details={"count": len(commands)},
        )
