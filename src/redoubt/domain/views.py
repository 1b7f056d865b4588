"""The public shapes of users, rooms, messages and files.

The REST API returns them and events carry them, so a client that applies events to
what it fetched ends up with what it would fetch again. Ids are strings on the wire.
Only fields listed here ever leave the server (no whole-row serialisation).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from redoubt.domain.enums import MemberRole, RoomKind, UserRole

__all__ = [
    "AttachmentFieldView",
    "AttachmentView",
    "BotCommandView",
    "FileView",
    "InlineButtonView",
    "MemberView",
    "MembershipView",
    "MessageView",
    "ReactionView",
    "ReadStateView",
    "ReplyKeyboardView",
    "RoomView",
    "SessionView",
    "UserPublicView",
    "UserView",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserPublicView(_View):
    id: str
    username: str
    display_name: str
    role: UserRole
    """Shown to everyone: clients mark admins and bots, and bots' access policies may
    allow a role."""


class UserView(UserPublicView):
    is_active: bool


class RoomView(_View):
    id: str
    kind: RoomKind
    name: str | None
    """None for DMs (clients show the other members' names)."""
    topic: str
    archived: bool
    created_by: str
    created_at: dt.datetime
    member_count: int
    dm_user_ids: list[str]
    """The participants of a DM (fixed at creation); empty for other kinds."""


class MemberView(_View):
    user_id: str
    role: MemberRole


class ReadStateView(_View):
    room_id: str
    last_read_position: int
    unread_count: int
    mention_count: int


class MembershipView(_View):
    """A room as one member sees it in their room list."""

    room: RoomView
    role: MemberRole
    read: ReadStateView


class ReactionView(_View):
    emoji: str
    user_ids: list[str]


class FileView(_View):
    id: str
    room_id: str
    filename: str
    content_type: str
    size: int
    created_at: dt.datetime


class AttachmentFieldView(_View):
    title: str
    value: str
    short: bool
    """A hint that the field may sit beside another one."""


class AttachmentView(_View):
    """A structured part of a message (webhooks, Slack-style): plain text throughout,
    never markup; ``title_link`` is an http(s) URL and ``color`` is ``#rrggbb``."""

    title: str | None
    title_link: str | None
    text: str | None
    color: str | None
    author_name: str | None
    fields: list[AttachmentFieldView]


class BotCommandView(_View):
    """A command of a bot in a room (its setMyCommands list), for the composer."""

    bot_id: str
    bot_username: str
    command: str
    description: str


class InlineButtonView(_View):
    """A bot's inline keyboard button as clients see it: a click names it by position;
    its callback_data stays on the server."""

    text: str
    kind: Literal["callback", "url"]
    url: str | None
    """An absolute http(s) URL for ``url`` buttons, else None."""


class ReplyKeyboardView(_View):
    """A bot's reply keyboard (a tap sends the label as a message), ForceReply, or a
    request to remove the keyboard shown before."""

    keyboard: list[list[str]]
    one_time: bool
    placeholder: str | None
    force_reply: bool
    remove: bool


class MessageView(_View):
    id: str
    room_id: str
    author_id: str
    position: int
    content_type: str
    text: str
    thread_id: str | None
    reply_count: int
    mentions: list[str]
    mentions_room: bool
    client_id: str | None
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted: bool
    pinned_at: dt.datetime | None
    pinned_by: str | None
    reactions: list[ReactionView]
    files: list[FileView]
    attachments: list[AttachmentView] = []
    """Webhook attachments, in order; empty for ordinary messages."""
    inline_keyboard: list[list[InlineButtonView]] | None = None
    """A bot message's inline keyboard (rows of buttons), or None."""
    reply_keyboard: ReplyKeyboardView | None = None
    """A bot message's reply keyboard / ForceReply / removal, or None."""


class SessionView(_View):
    """One signed-in device, as its owner (or an admin) sees it."""

    id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    """Last use, to the minute."""
    expires_at: dt.datetime
    ip: str
    user_agent: str
    current: bool
    """The session this request came with."""
