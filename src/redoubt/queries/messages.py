"""Permission-checked message lookups, history, threads, pins, search, and views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import NotFound
from redoubt.core.ids import format_id
from redoubt.domain.botmarkup import inline_view, reply_view
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import AttachmentView, FileView, MessageView, ReactionView
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import RoomAccess, access_room_conn
from redoubt.storage import files as file_store
from redoubt.storage import messages as message_store
from redoubt.storage import rooms as room_store
from redoubt.storage.records import FileRecord, MessageRecord

__all__ = [
    "MessageAccess",
    "access_message",
    "access_message_conn",
    "attachments_json",
    "build_message_view",
    "file_view",
    "get_history",
    "get_message_edits",
    "get_message_view",
    "get_pinned",
    "get_thread",
    "message_view",
    "message_views",
    "search",
]


@dataclass(frozen=True, slots=True)
class MessageAccess:
    message: MessageRecord
    room: RoomAccess


def file_view(record: FileRecord) -> FileView:
    return FileView(
        id=format_id(record.id),
        room_id=format_id(record.room_id),
        filename=record.filename,
        content_type=record.content_type,
        size=record.size,
        created_at=record.created_at,
    )


_ATTACHMENTS = TypeAdapter(list[AttachmentView])


def attachments_json(attachments: Sequence[AttachmentView]) -> str | None:
    """How a message's attachments are stored (None: there are none)."""
    if not attachments:
        return None
    return _ATTACHMENTS.dump_json(list(attachments)).decode()


def _stored_attachments(stored: str | None) -> list[AttachmentView]:
    return _ATTACHMENTS.validate_json(stored) if stored else []


def build_message_view(
    m: MessageRecord,
    *,
    mentioned: Sequence[int],
    reactions: Sequence[tuple[str, Sequence[int]]],
    files: Sequence[FileRecord],
) -> MessageView:
    """The view of one message from its record and its related rows."""
    return MessageView(
        id=format_id(m.id),
        room_id=format_id(m.room_id),
        author_id=format_id(m.author_id),
        position=m.position,
        content_type=m.content_type,
        text=m.text,
        thread_id=format_id(m.thread_id) if m.thread_id else None,
        reply_count=m.reply_count,
        mentions=[format_id(u) for u in mentioned],
        mentions_room=m.mentions_room,
        client_id=m.client_id,
        created_at=m.created_at,
        edited_at=m.edited_at,
        deleted=m.deleted,
        pinned_at=m.pinned_at,
        pinned_by=format_id(m.pinned_by) if m.pinned_by else None,
        reactions=[
            ReactionView(emoji=e, user_ids=[format_id(u) for u in users]) for e, users in reactions
        ],
        files=[file_view(f) for f in files],
        attachments=_stored_attachments(m.attachments),
        inline_keyboard=inline_view(m.inline_keyboard),
        reply_keyboard=reply_view(m.reply_keyboard),
    )


async def message_views(
    conn: AsyncConnection, records: Sequence[MessageRecord]
) -> list[MessageView]:
    """Views of many messages with their reactions, mentions and files in three queries."""
    ids = [m.id for m in records]
    reactions = await message_store.list_reactions(conn, ids)
    mentioned = await message_store.list_mentioned_user_ids(conn, ids)
    attached = await file_store.list_files_of_messages(conn, ids)
    return [
        build_message_view(
            m,
            mentioned=mentioned.get(m.id, ()),
            reactions=reactions.get(m.id, ()),
            files=attached.get(m.id, ()),
        )
        for m in records
    ]


async def message_view(conn: AsyncConnection, record: MessageRecord) -> MessageView:
    return (await message_views(conn, [record]))[0]


async def access_message_conn(
    conn: AsyncConnection,
    requester: Requester,
    message_id: int,
    action: RoomAction = RoomAction.READ,
) -> MessageAccess:
    """Load a message and check ``action`` in its room.

    Raises:
        NotFound: no such message, or it is in a room the requester can't see.
        Forbidden: the room is visible but the action is not allowed.
    """
    message = await message_store.get_message_by_id(conn, message_id)
    if message is None:
        raise NotFound
    room = await access_room_conn(conn, requester, message.room_id, action)
    return MessageAccess(message, room)


async def access_message(
    ctx: Context, requester: Requester, message_id: int, action: RoomAction = RoomAction.READ
) -> MessageAccess:
    async with ctx.db.read("access_message") as conn:
        return await access_message_conn(conn, requester, message_id, action)


async def get_message_view(ctx: Context, requester: Requester, message_id: int) -> MessageView:
    """The view of one message in a room the requester may see.

    Raises:
        NotFound: no such message, or its room is not visible to the requester.
    """
    async with ctx.db.read("get_message_view") as conn:
        access = await access_message_conn(conn, requester, message_id)
        return await message_view(conn, access.message)


async def get_history(
    ctx: Context,
    requester: Requester,
    room_id: int,
    *,
    before: int | None,
    after: int | None,
    around: int | None,
    limit: int,
) -> list[MessageView]:
    """A page of a room's history by position; ``around`` centres the page on a position."""
    async with ctx.db.read("get_history") as conn:
        await access_room_conn(conn, requester, room_id, RoomAction.READ)
        if around is not None:
            older = await message_store.list_history(
                conn, room_id, before=around + 1, limit=limit // 2 + 1
            )
            newer = await message_store.list_history(
                conn, room_id, after=around, limit=limit - len(older)
            )
            records = older + newer
        else:
            records = await message_store.list_history(
                conn, room_id, before=before, after=after, limit=limit
            )
        return await message_views(conn, records)


async def get_thread(
    ctx: Context, requester: Requester, message_id: int, *, after: int | None, limit: int
) -> list[MessageView]:
    async with ctx.db.read("get_thread") as conn:
        access = await access_message_conn(conn, requester, message_id)
        # A reply's id names its thread, as when posting (threads don't nest).
        root_id = access.message.thread_id or access.message.id
        records = await message_store.list_thread(conn, root_id, after=after, limit=limit)
        return await message_views(conn, records)


async def get_pinned(
    ctx: Context, requester: Requester, room_id: int, *, limit: int
) -> list[MessageView]:
    async with ctx.db.read("get_pinned") as conn:
        await access_room_conn(conn, requester, room_id, RoomAction.READ)
        return await message_views(
            conn, await message_store.list_pinned(conn, room_id, limit=limit)
        )


async def get_message_edits(
    ctx: Context, requester: Requester, message_id: int
) -> list[tuple[str, str, dt.datetime]]:
    """Earlier versions of a message: ``(editor id, previous text, edited at)``."""
    async with ctx.db.read("get_message_edits") as conn:
        access = await access_message_conn(conn, requester, message_id)
        rows = await message_store.list_edits(conn, access.message.id)
    return [(format_id(r.editor_id), r.previous_text, r.edited_at) for r in rows]


async def search(
    ctx: Context,
    requester: Requester,
    query: str,
    *,
    room_id: int | None,
    before_position: int | None,
    limit: int,
) -> list[MessageView]:
    """Full-text search over the rooms the requester is a member of.

    Public channels the requester hasn't joined are not searched (join to search them):
    search never widens what a user sees by default. Encrypted messages are never
    indexed.
    """
    async with ctx.db.read("search") as conn:
        if room_id is not None:
            await access_room_conn(conn, requester, room_id, RoomAction.READ)
            room_ids = [room_id]
        else:
            room_ids = await room_store.list_room_ids_of_user(conn, requester.id)
            if requester.grant is not None:
                room_ids = [r for r in room_ids if requester.grant.allows_room(r)]
        records = await message_store.search_messages(
            conn, query, room_ids, limit=limit, before_position=before_position
        )
        return await message_views(conn, records)
