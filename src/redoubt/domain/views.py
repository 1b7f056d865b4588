"""The public shapes of users, rooms, messages and files.

The REST API returns them and events carry them, so a client that applies events to
what it fetched ends up with what it would fetch again. Ids are strings on the wire.
Only fields listed here ever leave the server (no whole-row serialisation).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from redoubt.domain.enums import MemberRole, RoomKind, UserRole

__all__ = [
    "FileView",
    "MemberView",
    "MembershipView",
    "MessageView",
    "ReactionView",
    "ReadStateView",
    "RoomView",
    "UserPublicView",
    "UserView",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserPublicView(_View):
    id: str
    username: str
    display_name: str


class UserView(UserPublicView):
    role: UserRole
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
