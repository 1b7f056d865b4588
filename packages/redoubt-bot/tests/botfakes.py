"""In-memory fakes for the dispatch-core tests: a BotApi that records what it is asked
to do, an update source fed from the test, and update factories."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redoubt_bot import Application, ApplicationBuilder, Persistence
from redoubt_bot.types import (
    Button,
    CallbackQuery,
    MemberChange,
    Message,
    Reaction,
    RoomKind,
    Update,
    UpdateKind,
)

BOT_ID = "999"
ROOM = "100"
ALICE = "1"
BOB = "2"

_seq = itertools.count(1)
_ids = itertools.count(10_000)


@dataclass
class Sent:
    room_id: str
    text: str
    buttons: Sequence[Sequence[Button]] | None
    thread_id: str | None


@dataclass
class FakeApi:
    sent: list[Sent] = field(default_factory=list)
    answers: list[tuple[str, str | None]] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    role_lookups: int = 0
    closed: bool = False
    send_delay: float = 0.0

    async def send_message(
        self,
        room_id: str,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] | None = None,
        thread_id: str | None = None,
    ) -> Message:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        self.sent.append(Sent(room_id, text, buttons, thread_id))
        return Message(id=str(next(_ids)), room_id=room_id, author_id=BOT_ID, text=text)

    async def edit_message(self, message_id: str, text: str) -> Message:
        return Message(id=message_id, room_id=ROOM, author_id=BOT_ID, text=text)

    async def set_buttons(self, message_id: str, buttons: Sequence[Sequence[Button]]) -> Message:
        return Message(id=message_id, room_id=ROOM, author_id=BOT_ID, text="")

    async def delete_message(self, message_id: str) -> None:
        return None

    async def answer_callback(
        self, callback_id: str, *, text: str | None = None, show_alert: bool = False
    ) -> None:
        self.answers.append((callback_id, text))

    async def add_reaction(self, message_id: str, emoji: str) -> None:
        return None

    async def get_room_kind(self, room_id: str) -> RoomKind:
        return RoomKind.DM

    async def get_user_role(self, user_id: str) -> str:
        self.role_lookups += 1
        try:
            return self.roles[user_id]
        except KeyError:
            raise LookupError("no users:read scope") from None

    async def aclose(self) -> None:
        self.closed = True

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.sent]


class FakeUpdates:
    """An update source the test feeds; ``close()`` ends it."""

    def __init__(self) -> None:
        self._q: asyncio.Queue[Update | None] = asyncio.Queue()
        self.bot_user_id = BOT_ID

    def put(self, *updates: Update) -> None:
        for u in updates:
            self._q.put_nowait(u)

    def close(self) -> None:
        self._q.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Update]:
        while True:
            u = await self._q.get()
            if u is None:
                return
            yield u


def make_app(
    api: FakeApi | None = None,
    *,
    persistence: Persistence | None = None,
    concurrency: int = 4,
    updates: FakeUpdates | None = None,
) -> tuple[Application, FakeApi]:
    api = api or FakeApi()
    b = ApplicationBuilder().api(api).updates(updates or FakeUpdates()).bot_user_id(BOT_ID)
    b = b.concurrency(concurrency)
    if persistence is not None:
        b = b.persistence(persistence)
    return b.build(), api


def msg(
    text: str,
    *,
    user: str = ALICE,
    room: str = ROOM,
    kind: RoomKind = RoomKind.DM,
    thread_id: str | None = None,
    mentions: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
    edited: bool = False,
) -> Update:
    m = Message(
        id=str(next(_ids)),
        room_id=room,
        author_id=user,
        text=text,
        thread_id=thread_id,
        mentions=mentions,
        file_ids=files,
    )
    return Update(
        seq=next(_seq),
        kind=UpdateKind.EDITED_MESSAGE if edited else UpdateKind.MESSAGE,
        user_id=user,
        room_id=room,
        room_kind=kind,
        message=m,
    )


def click(data: str | None, *, user: str = ALICE, room: str = ROOM) -> Update:
    cq = CallbackQuery(
        id=f"cb{next(_ids)}", message_id="5", room_id=room, user_id=user, data=data or ""
    )
    return Update(seq=next(_seq), kind=UpdateKind.CALLBACK, user_id=user, room_id=room, callback=cq)


def button_data(sent: Sent, row: int = 0, col: int = 0) -> str:
    assert sent.buttons is not None
    data = sent.buttons[row][col].data
    assert data is not None
    return data


def reaction(emoji: str, *, user: str = ALICE, added: bool = True) -> Update:
    r = Reaction(message_id="5", room_id=ROOM, user_id=user, emoji=emoji, added=added)
    return Update(seq=next(_seq), kind=UpdateKind.REACTION, user_id=user, room_id=ROOM, reaction=r)


def member(user: str, *, joined: bool) -> Update:
    m = MemberChange(room_id=ROOM, room_kind=RoomKind.CHANNEL, user_id=user, joined=joined)
    return Update(seq=next(_seq), kind=UpdateKind.MEMBER, user_id=user, room_id=ROOM, member=m)


def recorder() -> tuple[list[Any], Any]:
    """A handler that records (name, update) pairs."""
    calls: list[Any] = []

    def make(name: str, result: Any = None) -> Any:
        async def handler(update: Update, context: Any) -> Any:
            calls.append((name, update))
            return result

        handler.__qualname__ = name
        return handler

    return calls, make
