"""Event type names: the realtime contract (every one has an apply_events test)."""

from __future__ import annotations

import enum

__all__ = ["BotEventType", "EphemeralType", "EventType"]


class EventType(enum.StrEnum):
    MESSAGE_CREATED = "message.created"
    """data: MessageView."""
    MESSAGE_UPDATED = "message.updated"
    """data: MessageView (edited, pinned/unpinned, thread reply count changed)."""
    MESSAGE_DELETED = "message.deleted"
    """data: MessageView of the tombstone."""
    REACTION_ADDED = "reaction.added"
    """data: {message: MessageView, user_id, emoji}."""
    REACTION_REMOVED = "reaction.removed"
    """data: {message: MessageView, user_id, emoji}."""
    ROOM_UPDATED = "room.updated"
    """data: {room: RoomView} (topic, archived)."""
    MEMBER_ADDED = "room.member_added"
    """data: {room: RoomView, user_id, role, read: ReadStateView}."""
    MEMBER_REMOVED = "room.member_removed"
    """data: {room: RoomView, user_id}; also delivered to the removed user."""
    MEMBER_UPDATED = "room.member_updated"
    """data: {room_id, user_id, role}."""
    READ_UPDATED = "read.updated"
    """data: ReadStateView; only to the reader."""
    USER_UPDATED = "user.updated"
    """data: UserView; to everyone (display name, role, deactivation)."""
    SESSION_ENDED = "session.ended"
    """data: {session_id: str | None (None: every session), reason}; only to the user.
    The user's event streams on those sessions are closed (4401)."""
    BOT_CALLBACK_ANSWER = "bot.callback_answer"
    """data: {callback_id, text: str | None, show_alert}; only to the user who clicked
    the bot's button (the bot's answerCallbackQuery: a notice, nothing to refetch)."""


class BotEventType(enum.StrEnum):
    """Stored events for a bot user only, read by its getUpdates (never a client's)."""

    CALLBACK_QUERY = "bot.callback_query"
    """data: {callback_id, message_id, room_id, user_id, data}: a click on an inline
    button of the bot's message."""


class EphemeralType(enum.StrEnum):
    """Never stored, carry no ``seq``, not replayed on resume."""

    TYPING = "typing"
    PRESENCE = "presence"
