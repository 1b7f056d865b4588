"""What a bot receives: updates built from the server's event stream.

Ids are strings, as the server writes them (64-bit numbers don't survive JSON in every
language). Every object is immutable; handlers never mutate what they are given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Button",
    "CallbackQuery",
    "MemberChange",
    "Message",
    "Reaction",
    "RoomKind",
    "Update",
    "UpdateKind",
]


class RoomKind(enum.StrEnum):
    CHANNEL = "channel"
    PRIVATE = "private"
    DM = "dm"


class UpdateKind(enum.StrEnum):
    MESSAGE = "message"
    EDITED_MESSAGE = "edited_message"
    CALLBACK = "callback"
    REACTION = "reaction"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button under a bot's message: a callback (``data``) or a link (``url``).

    Build callback buttons with ``context.button(text, payload)``: it stores the payload
    on the bot's side and sends only an opaque, user-bound, expiring token.
    """

    text: str
    data: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.url is not None:
            return {"text": self.text, "url": self.url}
        return {"text": self.text, "callback_data": self.data or ""}


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    room_id: str
    author_id: str
    text: str
    thread_id: str | None = None
    mentions: tuple[str, ...] = ()
    file_ids: tuple[str, ...] = ()

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> Message:
        """From the server's ``MessageView`` JSON."""
        return cls(
            id=str(view["id"]),
            room_id=str(view["room_id"]),
            author_id=str(view["author_id"]),
            text=str(view.get("text", "")),
            thread_id=view.get("thread_id"),
            mentions=tuple(view.get("mentions", ())),
            file_ids=tuple(f["id"] for f in view.get("files", ())),
        )


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    """A click on one of the bot's callback buttons. ``data`` is what the button carried
    on the wire (the opaque token); handlers get the resolved payload in
    ``context.payload``."""

    id: str
    message_id: str
    room_id: str
    user_id: str
    data: str


@dataclass(frozen=True, slots=True)
class Reaction:
    message_id: str
    room_id: str
    user_id: str
    emoji: str
    added: bool


@dataclass(frozen=True, slots=True)
class MemberChange:
    room_id: str
    room_kind: RoomKind
    user_id: str
    joined: bool


@dataclass(frozen=True, slots=True)
class Update:
    """One event for the bot. Exactly one of the payload fields is set, per ``kind``.

    ``seq`` is the event's position in the server's stream (the stream resumes after the
    last one processed). ``user_id`` is who caused it and ``room_id`` where; handlers'
    access policies judge by these ids, never by names.
    """

    seq: int
    kind: UpdateKind
    user_id: str
    room_id: str
    room_kind: RoomKind | None = None
    message: Message | None = None
    callback: CallbackQuery | None = None
    reaction: Reaction | None = None
    member: MemberChange | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def chat_key(self) -> str:
        """What updates are serialised by: one room's updates run one at a time."""
        return self.room_id
