"""Frozen row records returned by the repositories (never ORM objects)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from typing_extensions import override

from redoubt.domain.enums import MemberRole, RoomKind, UserRole

__all__ = [
    "FileRecord",
    "MembershipRecord",
    "MessageRecord",
    "RoomRecord",
    "SessionRecord",
    "UserRecord",
]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    display_name: str
    role: UserRole
    password_hash: str | None
    is_active: bool
    created_at: dt.datetime
    auth_source: str = "local"
    """``local`` (password_hash) or ``ldap`` (checked by the directory, no local hash)."""
    external_id: str | None = None
    """The directory's immutable id, for ``ldap`` accounts."""
    email: str | None = None
    """Lower-cased; where password reset mail goes. Never shown to other users."""

    @override
    def __repr__(self) -> str:  # the hash stays out of reprs and tracebacks
        return f"UserRecord(id={self.id}, username={self.username!r}, role={self.role.value})"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user_id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    user_agent: str
    ip: str
    enrol_only: bool = False
    """May only set up a second factor (its role requires one it doesn't have yet)."""


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: int
    kind: RoomKind
    name: str | None
    topic: str
    archived: bool
    dm_key: str | None
    created_by: int
    created_at: dt.datetime
    last_position: int


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    room_id: int
    user_id: int
    role: MemberRole
    joined_at: dt.datetime
    last_read_position: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    room_id: int
    author_id: int
    position: int
    content_type: str
    text: str
    thread_id: int | None
    reply_count: int
    mentions_room: bool
    client_id: str | None
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted: bool
    pinned_at: dt.datetime | None
    pinned_by: int | None
    attachments: str | None = None
    """Webhook attachments as stored: a JSON list of validated attachment objects
    (``domain.views.AttachmentView``), or None when there are none."""
    inline_keyboard: str | None = None
    """A bot's inline keyboard as stored (domain/botmarkup.py), callback_data included."""
    reply_keyboard: str | None = None
    """A bot's reply keyboard as stored: the JSON of a ``ReplyKeyboardView``."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: int
    room_id: int
    uploader_id: int
    message_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime
