"""Messages: post, edit (history kept), delete (tombstone), reactions, pins, read marks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.actions._common import audit, payload, uses_admin_power
from redoubt.actions.bot_activity import judge_bot_post
from redoubt.actions.outgoing_hooks import enqueue_deliveries_txn
from redoubt.core.checks import expect
from redoubt.core.errors import BadRequest, Conflict, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.botmarkup import InlineButton, inline_json
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from redoubt.domain.outgoing_hooks import HookEvent
from redoubt.domain.permissions import RoomAction
from redoubt.domain.text import is_valid_emoji, parse_mentions
from redoubt.domain.views import AttachmentView, MessageView, ReadStateView
from redoubt.queries.context import Context, Requester
from redoubt.queries.messages import (
    access_message_conn,
    attachments_json,
    build_message_view,
    message_view,
)
from redoubt.queries.rooms import access_room_conn, enforce, read_state
from redoubt.storage import files as file_store
from redoubt.storage import messages as message_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.records import FileRecord, MessageRecord

__all__ = [
    "MAX_FILES_PER_MESSAGE",
    "MAX_REACTION_KINDS",
    "do_add_reaction",
    "do_delete_message",
    "do_edit_message",
    "do_mark_read",
    "do_pin_message",
    "do_post_message",
    "do_remove_reaction",
    "edit_message_txn",
    "post_message_txn",
]

MAX_FILES_PER_MESSAGE = 10
MAX_REACTION_KINDS = 50


def _check_text(ctx: Context, text: str, *, allow_empty: bool) -> None:
    if len(text) > ctx.settings.max_message_chars:
        raise BadRequest(f"Messages are at most {ctx.settings.max_message_chars} characters.")
    if not allow_empty and not text.strip():
        raise BadRequest("The message is empty.")


async def _thread_root(conn: AsyncConnection, room_id: int, thread_id: int) -> MessageRecord:
    """The root of the thread ``thread_id`` names (a reply's id means its thread)."""
    root = await message_store.get_message_by_id(conn, thread_id)
    if root is not None and root.thread_id is not None:
        root = await message_store.get_message_by_id(conn, root.thread_id)
    if root is None or root.room_id != room_id or root.deleted:
        raise NotFound("No such thread.")
    return root


async def _attachable_files(
    conn: AsyncConnection, room_id: int, file_ids: Sequence[int], acting_user: Requester
) -> list[FileRecord]:
    """The actor's own unattached uploads in this room; anything else is not found."""
    wanted = set(file_ids)
    files = await file_store.get_files_by_ids(conn, list(wanted))
    if len(files) != len(wanted) or any(
        f.uploader_id != acting_user.id or f.room_id != room_id or f.message_id is not None
        for f in files
    ):
        raise NotFound("No such file.")
    return files


async def _member_ids_named(
    conn: AsyncConnection, room_id: int, usernames: frozenset[str]
) -> list[int]:
    """Ids of the room's members among ``usernames`` (others can't be notified here)."""
    if not usernames:
        return []
    users = await user_store.get_users_by_usernames(conn, sorted(usernames))
    member_ids = set(await room_store.list_member_ids(conn, room_id)) if users else set()
    return sorted(u.id for u in users if u.id in member_ids)


async def do_post_message(
    ctx: Context,
    room_id: int,
    *,
    text: str,
    thread_id: int | None,
    client_id: str | None,
    file_ids: Sequence[int],
    acting_user: Requester,
    buttons: tuple[tuple[InlineButton, ...], ...] | None = None,
) -> MessageView:
    """Post a message; a repeated ``client_id`` returns the first message instead.

    Args:
        thread_id: Reply in the thread of this message (a reply's id means its thread).
        client_id: The client's idempotency key for this post.
        file_ids: Uploads of the acting user in this room, not yet attached.
        buttons: An inline keyboard (checked by domain/botmarkup.py); bots only.

    Raises:
        NotFound: room or thread root not visible; files not the actor's uploads here.
        Forbidden: not a member, or the room is archived; buttons from a person (a
            person's message with buttons could pass for a bot's).
        BadRequest: empty or oversize text, too many files.
        Conflict: ``client_id`` was used for a message in another room.
    """
    _check_text(ctx, text, allow_empty=bool(file_ids))
    if len(file_ids) > MAX_FILES_PER_MESSAGE:
        raise BadRequest(f"At most {MAX_FILES_PER_MESSAGE} files per message.")
    if buttons and acting_user.user.role is not UserRole.BOT:
        raise Forbidden("Only bots can attach buttons.")
    async with ctx.db.transaction("post_message") as txn:
        return await post_message_txn(
            ctx,
            txn,
            room_id,
            text=text,
            thread_id=thread_id,
            client_id=client_id,
            file_ids=file_ids,
            acting_user=acting_user,
            inline_keyboard=inline_json(buttons),
        )


async def post_message_txn(
    ctx: Context,
    txn: Txn,
    room_id: int,
    *,
    text: str,
    thread_id: int | None,
    client_id: str | None,
    file_ids: Sequence[int],
    acting_user: Requester,
    attachments: Sequence[AttachmentView] = (),
    inline_keyboard: str | None = None,
    reply_keyboard: str | None = None,
) -> MessageView:
    """The post pipeline of :func:`do_post_message` inside an open transaction, for
    actions that post as part of a larger write (an incoming webhook inserts its nonce
    in the same transaction). The caller has checked the text; ``attachments`` are
    validated views (webhooks), stored as given and shown as text; ``inline_keyboard``
    and ``reply_keyboard`` a bot's checked markup as stored (domain/botmarkup.py).
    """
    conn = txn.conn
    access = await access_room_conn(conn, acting_user, room_id, RoomAction.POST)
    if client_id is not None:
        earlier = await message_store.get_message_by_client_id(conn, acting_user.id, client_id)
        if earlier is not None:
            if earlier.room_id != room_id:
                raise Conflict("That client_id was used for another message.")
            return await message_view(conn, earlier)
    root = await _thread_root(conn, room_id, thread_id) if thread_id is not None else None
    files = await _attachable_files(conn, room_id, file_ids, acting_user)
    mentions = parse_mentions(text)
    mentioned_ids = await _member_ids_named(conn, room_id, mentions.usernames)
    # T7: a bot's post is judged before it is written (mass mention, many rooms, flood).
    await judge_bot_post(
        ctx,
        conn,
        acting_user,
        room_id,
        mentioned_users=len(mentioned_ids),
        mentions_room=mentions.room,
    )

    position = await txn.next_seq()
    message = MessageRecord(
        id=ctx.ids.next_id(),
        room_id=room_id,
        author_id=acting_user.id,
        position=position,
        content_type="text",
        text=text,
        thread_id=root.id if root else None,
        reply_count=0,
        mentions_room=mentions.room,
        client_id=client_id,
        created_at=txn.now,
        edited_at=None,
        deleted=False,
        pinned_at=None,
        pinned_by=None,
        attachments=attachments_json(attachments),
        inline_keyboard=inline_keyboard,
        reply_keyboard=reply_keyboard,
    )
    await message_store.insert_message_txn(conn, message)
    await message_store.insert_mentions_txn(conn, message, sorted(mentioned_ids))
    if files:
        await file_store.attach_files_txn(conn, [f.id for f in files], message.id)
    if text:
        await message_store.index_message_txn(conn, message.id, text)
    await room_store.update_room_txn(conn, room_id, last_position=position)
    # A new message has no reactions yet and we hold its mentions and files: no
    # need to read them back (this is the hottest write path).
    view = build_message_view(
        message,
        mentioned=mentioned_ids,
        reactions=(),
        files=[
            dataclasses.replace(f, message_id=message.id) for f in sorted(files, key=lambda f: f.id)
        ],
    )
    await txn.append_event(
        EventType.MESSAGE_CREATED, view.model_dump_json(), room_id=room_id, seq=position
    )
    await enqueue_deliveries_txn(  # [outgoing webhooks] the outbox, in this transaction
        ctx,
        txn,
        room=access.room,
        event=HookEvent.MESSAGE_POSTED,
        user_id=acting_user.id,
        user=acting_user.user,
        message=message,
    )
    if root is not None:
        await message_store.update_message_txn(conn, root.id, reply_count=root.reply_count + 1)
        root_view = await _reload_view(conn, root.id)
        await txn.append_event(
            EventType.MESSAGE_UPDATED, root_view.model_dump_json(), room_id=room_id
        )
    return view


async def _reload_view(conn: AsyncConnection, message_id: int) -> MessageView:
    record = expect(await message_store.get_message_by_id(conn, message_id), "the message")
    return await message_view(conn, record)


async def do_edit_message(
    ctx: Context, message_id: int, *, text: str, acting_user: Requester
) -> MessageView:
    """Replace a message's text, keeping the previous version in its edit history.

    Raises:
        NotFound: not visible, or deleted.
        Forbidden: not the author, no longer a member, or the room is archived.
    """
    async with ctx.db.transaction("edit_message") as txn:
        message = await own_message_txn(txn, acting_user, message_id)
        _check_text(ctx, text, allow_empty=False)
        if text == message.text:
            return await message_view(txn.conn, message)
        return await edit_message_txn(ctx, txn, message, text=text, editor_id=acting_user.id)


async def own_message_txn(txn: Txn, acting_user: Requester, message_id: int) -> MessageRecord:
    """A message the actor wrote and may still change (a member, the room not archived).

    Raises:
        NotFound: not visible, or deleted.
        Forbidden: not the author, no longer a member, or the room is archived.
    """
    access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.POST)
    if access.message.deleted:
        raise NotFound
    if access.message.author_id != acting_user.id:
        raise Forbidden("Only the author can edit a message.")
    return access.message


async def edit_message_txn(
    ctx: Context,
    txn: Txn,
    message: MessageRecord,
    *,
    text: str,
    editor_id: int,
    **changes: Any,
) -> MessageView:
    """Write an edit the caller has authorised: the previous text into the history
    (when the text changes), the search index, other column ``changes`` (a bot's
    keyboard), and the ``message.updated`` event."""
    if text != message.text:
        await message_store.insert_edit_txn(
            txn.conn,
            edit_id=ctx.ids.next_id(),
            message_id=message.id,
            editor_id=editor_id,
            previous_text=message.text,
            edited_at=txn.now,
        )
        await message_store.index_message_txn(txn.conn, message.id, text)
        changes.update(text=text, edited_at=txn.now)
    await message_store.update_message_txn(txn.conn, message.id, **changes)
    view = await _reload_view(txn.conn, message.id)
    await txn.append_event(
        EventType.MESSAGE_UPDATED, view.model_dump_json(), room_id=message.room_id
    )
    return view


async def do_delete_message(
    ctx: Context, message_id: int, *, acting_user: Requester
) -> MessageView:
    """Replace a message by a tombstone: text, edit history, reactions and files go.

    The author may delete their own; room moderators (and admins in channels) anyone's.
    """
    removed_files: list[int] = []
    async with ctx.db.transaction("delete_message") as txn:
        access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.READ)
        message = access.message
        if message.deleted:
            return await message_view(txn.conn, message)
        own = message.author_id == acting_user.id
        enforce(acting_user, access.room, RoomAction.POST if own else RoomAction.DELETE_ANY)
        await message_store.delete_edits_txn(txn.conn, message.id)
        await message_store.unindex_message_txn(txn.conn, message.id)
        reactions = await message_store.list_reactions(txn.conn, [message.id])
        for emoji, users in reactions.get(message.id, ()):
            for user_id in users:
                await message_store.delete_reaction_txn(txn.conn, message.id, user_id, emoji)
        attached = await file_store.list_files_of_messages(txn.conn, [message.id])
        removed_files = [f.id for f in attached.get(message.id, ())]
        await file_store.delete_files_txn(txn.conn, removed_files)
        await message_store.update_message_txn(
            txn.conn,
            message.id,
            text="",
            attachments=None,
            inline_keyboard=None,
            reply_keyboard=None,
            deleted=True,
            pinned_at=None,
            pinned_by=None,
        )
        view = await _reload_view(txn.conn, message.id)
        await txn.append_event(
            EventType.MESSAGE_DELETED, view.model_dump_json(), room_id=message.room_id
        )
        if not own:
            await audit(
                ctx,
                txn,
                "message.delete_other",
                acting_user=acting_user,
                target_type="message",
                target_id=message.id,
                details={"room_id": str(message.room_id), "author_id": str(message.author_id)},
            )
    for file_id in removed_files:  # bytes go only once the rows are gone for good
        ctx.files.delete(file_id)
    return view


async def _change_reaction(
    ctx: Context, message_id: int, emoji: str, *, add: bool, acting_user: Requester
) -> MessageView:
    if not is_valid_emoji(emoji):
        raise BadRequest("That is not an emoji.")
    async with ctx.db.transaction("add_reaction" if add else "remove_reaction") as txn:
        access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.POST)
        message = access.message
        if message.deleted:
            raise NotFound
        if add:
            existing = await message_store.list_reactions(txn.conn, [message.id])
            kinds = {e for e, _ in existing.get(message.id, ())}
            if emoji not in kinds and len(kinds) >= MAX_REACTION_KINDS:
                raise BadRequest(f"A message can have at most {MAX_REACTION_KINDS} reactions.")
            changed = await message_store.insert_reaction_txn(
                txn.conn, message.id, acting_user.id, emoji, txn.now
            )
        else:
            changed = await message_store.delete_reaction_txn(
                txn.conn, message.id, acting_user.id, emoji
            )
        view = await _reload_view(txn.conn, message.id)
        if changed:
            await txn.append_event(
                EventType.REACTION_ADDED if add else EventType.REACTION_REMOVED,
                payload(message=view, user_id=format_id(acting_user.id), emoji=emoji),
                room_id=message.room_id,
            )
    return view


async def do_add_reaction(
    ctx: Context, message_id: int, emoji: str, *, acting_user: Requester
) -> MessageView:
    """React to a message (idempotent)."""
    return await _change_reaction(ctx, message_id, emoji, add=True, acting_user=acting_user)


async def do_remove_reaction(
    ctx: Context, message_id: int, emoji: str, *, acting_user: Requester
) -> MessageView:
    """Take back one's own reaction (idempotent)."""
    return await _change_reaction(ctx, message_id, emoji, add=False, acting_user=acting_user)


async def do_pin_message(
    ctx: Context, message_id: int, *, pinned: bool, acting_user: Requester
) -> MessageView:
    async with ctx.db.transaction("pin_message") as txn:
        access = await access_message_conn(txn.conn, acting_user, message_id, RoomAction.PIN)
        message = access.message
        if message.deleted:
            raise NotFound
        if (message.pinned_at is not None) == pinned:
            return await message_view(txn.conn, message)
        await message_store.update_message_txn(
            txn.conn,
            message.id,
            pinned_at=txn.now if pinned else None,
            pinned_by=acting_user.id if pinned else None,
        )
        view = await _reload_view(txn.conn, message.id)
        await txn.append_event(
            EventType.MESSAGE_UPDATED, view.model_dump_json(), room_id=message.room_id
        )
        if uses_admin_power(acting_user, access.room, RoomAction.PIN):
            await audit(  # a moderator's power, used by an admin who isn't one here
                ctx,
                txn,
                "message.pin_by_admin" if pinned else "message.unpin_by_admin",
                acting_user=acting_user,
                target_type="message",
                target_id=message.id,
                details={"room_id": str(message.room_id)},
            )
    return view


async def do_mark_read(
    ctx: Context, room_id: int, *, position: int, acting_user: Requester
) -> ReadStateView:
    """Move the read position forward (never back, never past the room's latest)."""
    async with ctx.db.transaction("mark_read") as txn:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.READ)
        if access.membership is None:
            raise Forbidden("Join the room first.")
        target = min(max(position, access.membership.last_read_position), access.room.last_position)
        if target == access.membership.last_read_position:
            return await read_state(txn.conn, acting_user.id, room_id)
        await room_store.update_membership_txn(
            txn.conn, room_id, acting_user.id, last_read_position=target
        )
        state = await read_state(txn.conn, acting_user.id, room_id)
        await txn.append_event(
            EventType.READ_UPDATED, state.model_dump_json(), user_id=acting_user.id
        )
    return state
