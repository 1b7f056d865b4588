"""Reading for the Telegram-compatible Bot API: getMe, chats, getUpdates, commands.

getUpdates reads the bot user's own event stream: ``message.created`` events in the
rooms it is a member of (DMs included) become ``Update`` objects whose ``update_id`` is
the event's stream position. Membership is followed along the stream, as a resuming
WebSocket does (queries/events.py ``room_ids_at``), so a bot never receives what was
said in a room before it joined or after it left. The bot's own messages are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import BadRequest, Conflict, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.botapi import (
    CHAT_NOT_FOUND,
    BotChat,
    BotUser,
    callback_update,
    chat_id_of_room,
    chat_instance,
    chat_member_object,
    chat_object,
    message_object,
    room_id_of_chat,
    update_object,
    user_object,
)
from redoubt.domain.botmarkup import inline_telegram
from redoubt.domain.enums import RoomKind, UserRole
from redoubt.domain.events import BotEventType, EventType
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import BotCommandView, MessageView
from redoubt.queries.botapi_files import bot_files
from redoubt.queries.context import Context, Requester
from redoubt.queries.events import events_for_user, room_ids_at
from redoubt.queries.messages import message_view
from redoubt.queries.rooms import access_room_conn
from redoubt.storage import bot_webhooks as webhook_store
from redoubt.storage import bots as bot_store
from redoubt.storage import events as event_store
from redoubt.storage import messages as message_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.database import StoredEvent
from redoubt.storage.filestore import LocalFileStore
from redoubt.storage.records import RoomRecord, UserRecord

__all__ = [
    "MAX_POLL_SECONDS",
    "WEBHOOK_CONFLICT",
    "StreamPosition",
    "bot_me",
    "chat_room_id",
    "count_pending_updates",
    "get_chat",
    "get_chat_member",
    "get_commands",
    "has_webhook",
    "member_room_id",
    "message_of",
    "poll_updates",
    "read_updates",
    "room_bot_commands",
    "update_kind",
    "webhook_info",
]

MAX_POLL_SECONDS = 50
_EVENT_BATCH = 500
WEBHOOK_CONFLICT = (
    "can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_MAX_PENDING_SCAN = 20 * _EVENT_BATCH
"""getWebhookInfo counts pending updates among at most this many events."""
_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)


def _bot_user(user: UserRecord) -> BotUser:
    return BotUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_bot=user.role is UserRole.BOT,
    )


def bot_me(requester: Requester) -> dict[str, Any]:
    """getMe's ``User``, with the capability flags clients read."""
    return {
        **user_object(_bot_user(requester.user)),
        "is_bot": True,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _dm_members(room: RoomRecord) -> list[int]:
    return [int(part) for part in (room.dm_key or "").split(",") if part]


def _chat(room: RoomRecord, bot_id: int, users: dict[int, UserRecord]) -> BotChat:
    if room.kind is RoomKind.DM:
        others = [m for m in _dm_members(room) if m != bot_id]
        if len(others) == 1 and others[0] in users:
            person = _bot_user(users[others[0]])
            return BotChat(id=person.id, type="private", user=person)
        names = [users[m].display_name or users[m].username for m in others if m in users]
        return BotChat(id=chat_id_of_room(room.id), type="group", title=", ".join(names))
    kind = "supergroup" if room.kind is RoomKind.CHANNEL else "group"
    return BotChat(id=chat_id_of_room(room.id), type=kind, title=room.name or "")


async def _messages(
    conn: AsyncConnection,
    bot_id: int,
    views: Sequence[MessageView],
    store: LocalFileStore | None = None,
) -> list[dict[str, Any]]:
    """Telegram ``Message`` objects for ``views`` (batched reads). The bot's own
    messages carry their inline keyboard as the bot sent it."""
    room_ids = sorted({int(v.room_id) for v in views})
    rooms = {r.id: r for r in await room_store.get_rooms_by_ids(conn, room_ids)}
    user_ids = {int(v.author_id) for v in views}
    for record in rooms.values():
        if record.kind is RoomKind.DM:
            user_ids.update(_dm_members(record))
    users = {u.id: u for u in await user_store.get_users_by_ids(conn, sorted(user_ids))}
    own = [int(v.id) for v in views if int(v.author_id) == bot_id and v.inline_keyboard]
    keyboards = {
        m.id: m.inline_keyboard for m in await message_store.get_messages_by_ids(conn, own)
    }
    out = []
    for view in views:
        room = rooms.get(int(view.room_id))
        author = users.get(int(view.author_id))
        if room is None or author is None:  # pragma: no cover - foreign keys keep both
            continue
        out.append(
            message_object(
                message_id=int(view.id),
                date=view.created_at,
                chat=_chat(room, bot_id, users),
                sender=_bot_user(author),
                text=view.text,
                files=bot_files(store, view),
                edit_date=view.edited_at,
                reply_markup=inline_telegram(keyboards.get(int(view.id))),
            )
        )
    return out


async def message_of(ctx: Context, bot_id: int, view: MessageView) -> dict[str, Any]:
    """The ``Message`` object of one message (what sendMessage returns)."""
    async with ctx.db.read("botapi_message") as conn:
        found = await _messages(conn, bot_id, [view], ctx.files)
    if not found:  # pragma: no cover - the message was just written
        raise BadRequest(CHAT_NOT_FOUND)
    return found[0]


async def chat_room_id(ctx: Context, bot_id: int, chat_id: int) -> int:
    """The room a ``chat_id`` names for this bot: a negative id is a room; a positive
    one is the person of a DM the bot is in (a bot can't start a conversation).

    Raises:
        BadRequest: chat not found (no such room or DM, or it's not the bot's).
    """
    room_id = room_id_of_chat(chat_id)
    if room_id is not None:
        return room_id
    if chat_id <= 0 or chat_id == bot_id:
        raise BadRequest(CHAT_NOT_FOUND)
    dm_key = ",".join(str(m) for m in sorted((bot_id, chat_id)))
    async with ctx.db.read("botapi_chat") as conn:
        room = await room_store.get_room_by_dm_key(conn, dm_key)
    if room is None:
        raise BadRequest(CHAT_NOT_FOUND)
    return room.id


async def get_commands(ctx: Context, bot_id: int) -> list[dict[str, str]]:
    async with ctx.db.read("botapi_commands") as conn:
        bot = await bot_store.get_bot(conn, bot_id)
    if bot is None:  # pragma: no cover - the token resolved to this bot
        return []
    commands: list[dict[str, str]] = json.loads(bot.commands)
    return commands


@dataclass(frozen=True, slots=True)
class _Found:
    seq: int
    kind: str
    """``message``, ``edited_message`` or ``callback_query``."""
    view: MessageView | None = None
    callback: dict[str, Any] | None = None


def _wanted(event: StoredEvent, rooms: set[int], bot_id: int) -> _Found | None:
    """Follow the bot's memberships; what an event means to the bot, if anything: a
    message (or an edit) by someone else in one of its rooms, or a click on one of its
    buttons."""
    room_id = event.room_id
    kind = event.type
    if kind == EventType.MEMBER_ADDED and event.user_id == bot_id and room_id is not None:
        rooms.add(room_id)
    elif kind == EventType.MEMBER_REMOVED and event.user_id == bot_id:
        rooms.discard(room_id or 0)
    elif kind in (EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED) and room_id in rooms:
        view = MessageView.model_validate(json.loads(event.frame)["data"])
        if int(view.author_id) == bot_id or view.deleted:
            return None
        if kind == EventType.MESSAGE_CREATED:
            return _Found(event.seq, "message", view=view)
        # Pins and thread counts update messages too; only edited ones are news.
        if view.edited_at is not None and view.content_type == "text":
            return _Found(event.seq, "edited_message", view=view)
    elif kind == BotEventType.CALLBACK_QUERY and event.user_id == bot_id:
        return _Found(event.seq, "callback_query", callback=json.loads(event.frame)["data"])
    return None


async def _first_useful_position(ctx: Context, bot_id: int, upto: int) -> int:
    """Where a bot that never confirmed anything starts reading: just before it first
    joined a room (nothing earlier can be for it), or ``upto`` if it never did."""
    async with ctx.db.read("botapi_first_join") as conn:
        joins = await event_store.list_membership_events(conn, bot_id, after=0)
    return min(joins[0].seq - 1, upto) if joins else upto


async def _callback_updates(
    conn: AsyncConnection, bot_id: int, found: Sequence[_Found], store: LocalFileStore | None
) -> dict[int, dict[str, Any]]:
    """``callback_query`` updates by position; clicks on messages deleted since are
    dropped (nobody can act on them)."""
    out: dict[int, dict[str, Any]] = {}
    for item in found:
        data = item.callback or {}
        record = await message_store.get_message_by_id(conn, int(data["message_id"]))
        clicker = await user_store.get_user_by_id(conn, int(data["user_id"]))
        if record is None or record.deleted or clicker is None:
            continue
        view = await message_view(conn, record)
        messages = await _messages(conn, bot_id, [view], store)
        if not messages:  # pragma: no cover - foreign keys keep room and author
            continue
        out[item.seq] = callback_update(
            item.seq,
            callback_id=str(data["callback_id"]),
            sender=_bot_user(clicker),
            instance=chat_instance(bot_id, record.room_id),
            data=str(data["data"]),
            message=messages[0],
        )
    return out


async def read_updates(
    ctx: Context, bot_id: int, *, after: int, upto: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Updates with ``after < update_id <= upto`` (at most ``limit``), and how far the
    stream was read (the next call may start there)."""
    found: list[_Found] = []
    scanned = after if after > 0 else await _first_useful_position(ctx, bot_id, upto)
    while scanned < upto and len(found) < limit:
        rooms, changed = await room_ids_at(ctx, bot_id, scanned)
        batch = await events_for_user(
            ctx, bot_id, rooms | changed, after=scanned, upto=upto, limit=_EVENT_BATCH
        )
        for event in batch:
            item = _wanted(event, rooms, bot_id)
            scanned = event.seq
            if item is not None:
                found.append(item)
                if len(found) == limit:
                    break
        if len(batch) < _EVENT_BATCH and len(found) < limit:
            scanned = upto
    if not found:
        return [], scanned
    with_views = [f for f in found if f.view is not None]
    async with ctx.db.read("botapi_updates") as conn:
        messages = await _messages(conn, bot_id, [f.view for f in with_views if f.view], ctx.files)
        callbacks = await _callback_updates(
            conn, bot_id, [f for f in found if f.callback is not None], ctx.files
        )
    by_seq = {
        f.seq: update_object(f.seq, message, kind=f.kind)
        for f, message in zip(with_views, messages, strict=True)
    }
    by_seq.update(callbacks)
    return [by_seq[f.seq] for f in found if f.seq in by_seq], scanned


class StreamPosition(Protocol):
    """The realtime dispatcher as a long poll sees it (it lives in a higher layer)."""

    @property
    def last_seq(self) -> int: ...

    async def wait_beyond(self, seq: int, *, unless: asyncio.Event | None = None) -> None: ...


async def poll_updates(
    ctx: Context,
    bot_id: int,
    *,
    after: int,
    limit: int,
    wait_seconds: float,
    stream: StreamPosition,
    superseded: asyncio.Event,
) -> list[dict[str, Any]]:
    """getUpdates' long poll: updates after ``after``, waiting up to ``wait_seconds``
    (capped at :data:`MAX_POLL_SECONDS`) for the first one.

    Args:
        stream: The stream position this process has seen committed (the realtime
            dispatcher's); reading never goes past it, so a later update can't be
            confirmed before an earlier one becomes visible. The poll sleeps until the
            position moves and reads the database only then.
        superseded: Set when another getUpdates request of the same bot started.

    Raises:
        Conflict: another getUpdates request of this bot took over.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(wait_seconds, 0.0), MAX_POLL_SECONDS)
    scanned = after
    while True:
        if superseded.is_set():
            raise Conflict(_CONFLICT)
        upto = stream.last_seq
        if upto > scanned:
            updates, scanned = await read_updates(
                ctx, bot_id, after=scanned, upto=upto, limit=limit
            )
            if updates:
                return updates
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await stream.wait_beyond(max(scanned, upto), unless=superseded)


async def _room_for_bot(conn: AsyncConnection, requester: Requester, room_id: int) -> RoomRecord:
    """A room the bot is a member of (and can read), or chat not found."""
    try:
        access = await access_room_conn(conn, requester, room_id, RoomAction.READ)
    except (NotFound, Forbidden):
        raise BadRequest(CHAT_NOT_FOUND) from None
    if access.membership is None:
        raise BadRequest(CHAT_NOT_FOUND)
    return access.room


async def get_chat(ctx: Context, requester: Requester, chat_id: int) -> dict[str, Any]:
    """getChat's ``ChatFullInfo`` for a chat the bot is in."""
    room_id = await chat_room_id(ctx, requester.id, chat_id)
    async with ctx.db.read("botapi_get_chat") as conn:
        room = await _room_for_bot(conn, requester, room_id)
        ids = _dm_members(room) if room.kind is RoomKind.DM else []
        users = {u.id: u for u in await user_store.get_users_by_ids(conn, ids)}
    chat = _chat(room, requester.id, users)
    out = chat_object(chat)
    if room.kind is not RoomKind.DM and room.topic:
        out["description"] = room.topic
    return {
        **out,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def get_chat_member(
    ctx: Context, requester: Requester, chat_id: int, user_id: int
) -> dict[str, Any]:
    """getChatMember: ``creator`` (room owner), ``administrator`` (moderator),
    ``member``, or ``left`` (not a member) for someone in a chat the bot is in."""
    room_id = await chat_room_id(ctx, requester.id, chat_id)
    async with ctx.db.read("botapi_get_chat_member") as conn:
        await _room_for_bot(conn, requester, room_id)
        user = await user_store.get_user_by_id(conn, user_id)
        membership = await room_store.get_membership(conn, room_id, user_id)
    if user is None:
        raise BadRequest("user not found")
    return chat_member_object(_bot_user(user), membership.role if membership else None)


async def member_room_id(ctx: Context, requester: Requester, chat_id: int) -> int:
    """The room of ``chat_id`` if the bot is a member there (sendChatAction).

    Raises:
        BadRequest: chat not found.
    """
    room_id = await chat_room_id(ctx, requester.id, chat_id)
    async with ctx.db.read("botapi_member_room") as conn:
        await _room_for_bot(conn, requester, room_id)
    return room_id


async def room_bot_commands(
    ctx: Context, requester: Requester, room_id: int
) -> list[BotCommandView]:
    """The commands of the (active, not quarantined) bots in a room the requester can
    read, bot by bot in joining order (the composer's ``/`` completion).

    Raises:
        NotFound: a room the requester can't see.
    """
    async with ctx.db.read("room_bot_commands") as conn:
        await access_room_conn(conn, requester, room_id, RoomAction.READ)
        members = await room_store.list_members(conn, room_id)
        users = await user_store.get_users_by_ids(conn, [m.user_id for m in members])
        bots = {u.id: u for u in users if u.role is UserRole.BOT and u.is_active}
        out: list[BotCommandView] = []
        for member in members:
            user = bots.get(member.user_id)
            record = await bot_store.get_bot(conn, member.user_id) if user else None
            if user is None or record is None or record.quarantined_at is not None:
                continue
            commands: list[dict[str, str]] = json.loads(record.commands)
            out.extend(
                BotCommandView(
                    bot_id=format_id(user.id),
                    bot_username=user.username,
                    command=item["command"],
                    description=item["description"],
                )
                for item in commands
            )
    return out


# --- webhooks ---------------------------------------------------------------------------


def update_kind(update: dict[str, Any]) -> str:
    """An ``Update``'s kind: ``message``, ``edited_message``, ``callback_query``."""
    return next((key for key in update if key != "update_id"), "")


async def has_webhook(ctx: Context, bot_id: int) -> bool:
    async with ctx.db.read("botapi_has_webhook") as conn:
        return await webhook_store.get_webhook(conn, bot_id) is not None


async def count_pending_updates(ctx: Context, bot_id: int, *, after: int, upto: int) -> int:
    """How many updates with ``after < update_id <= upto`` there are (the kinds
    getUpdates returns; counted among at most :data:`_MAX_PENDING_SCAN` events)."""
    count = 0
    scanned = after if after > 0 else await _first_useful_position(ctx, bot_id, upto)
    budget = _MAX_PENDING_SCAN
    while scanned < upto and budget > 0:
        rooms, changed = await room_ids_at(ctx, bot_id, scanned)
        batch = await events_for_user(
            ctx, bot_id, rooms | changed, after=scanned, upto=upto, limit=_EVENT_BATCH
        )
        for event in batch:
            if _wanted(event, rooms, bot_id) is not None:
                count += 1
            scanned = event.seq
        budget -= _EVENT_BATCH
        if len(batch) < _EVENT_BATCH:
            break
    return count


async def webhook_info(ctx: Context, bot_id: int, *, offset: int, upto: int) -> dict[str, Any]:
    """getWebhookInfo's ``WebhookInfo``: never the secret, never a response body."""
    async with ctx.db.read("botapi_webhook_info") as conn:
        record = await webhook_store.get_webhook(conn, bot_id)
    pending = await count_pending_updates(ctx, bot_id, after=max(offset - 1, 0), upto=upto)
    if record is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
    out: dict[str, Any] = {
        "url": record.url,
        "has_custom_certificate": False,
        "pending_update_count": pending,
        "max_connections": record.max_connections,
    }
    if record.last_error_at is not None and record.last_error:
        out["last_error_date"] = int(record.last_error_at.timestamp())
        out["last_error_message"] = record.last_error
    if record.allowed_updates is not None:
        out["allowed_updates"] = list(record.allowed_updates)
    return out
