"""Every update and message the Bot API emits parses in both client libraries.

One malformed update stalls a Telegram bot forever (BOTAPI.md, "poison pill": python-
telegram-bot 22.8 and aiogram both retry the same batch without end), so hypothesis
generates messages of every kind we make (astral characters that shift UTF-16 offsets,
/commands with arguments and @bot suffixes, @mentions, markdown, blank lines) from two
people into a DM with the bot, a private group and a channel; every update getUpdates
returns must parse with ``telegram.Update.de_json`` (python-telegram-bot 22.x) and
``aiogram.types.Update.model_validate`` (aiogram 3.x) and carry the expected text,
chat, sender and entities. What sendMessage returns must parse as a ``Message`` too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiogram.methods
import aiogram.types
import pydantic
import pytest
import pytest_asyncio
import telegram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redoubt.domain.botapi import escape_markdown
from tests.harness import Bot, Server, User, run_server, sqlite_database
from tests.harness import test_settings as harness_settings

module_loop = pytest.mark.asyncio(loop_scope="module")
_T = TypeVar("_T")


@dataclass
class World:
    server: Server
    bot: Bot
    people: dict[str, User]
    chats: dict[str, tuple[str, int, str]]
    """name → (room id, expected chat id, expected chat type)."""
    offset: int = 0


def examples(max_examples: int) -> Callable[[_T], _T]:
    """Hypothesis settings of these module-loop conformance tests: ``max_examples``,
    reproducible, no deadline or example database."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@asynccontextmanager
async def unthrottled_server(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> AsyncIterator[Server]:
    """A server on a fresh SQLite database in a ``name`` temporary folder, where bots may
    send hundreds of messages on purpose: no flood quarantine."""
    data_dir = tmp_path_factory.mktemp(name) / "data"
    await asyncio.to_thread(sqlite_database, data_dir)
    async with run_server(harness_settings(data_dir, bot_flood_floor=1_000_000)) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with unthrottled_server(tmp_path_factory, "botapi-conformance") as server:
        alice = await server.create_user("alice")
        bob = await server.create_user("bob")
        group = await server.room(alice, "team", "private", bob)
        channel = await server.room(alice, "news", "channel")
        await server.ok("POST", f"/api/v1/rooms/{channel}/join", bob)
        bot = await server.create_bot(alice, "echo_bot", group, channel)
        for room in (group, channel):
            await server.ok(
                "POST", f"/api/v1/rooms/{room}/members", alice, json={"user_id": bot.id}
            )
        dm = await server.ok("POST", "/api/v1/dms", alice, json={"user_ids": [bot.id]})
        yield World(
            server,
            bot,
            {"alice": alice, "bob": bob},
            {
                "dm": (str(dm["id"]), int(alice.id), "private"),
                "group": (group, -int(group), "group"),
                "channel": (channel, -int(channel), "supergroup"),
            },
        )


_ASTRAL = [
    "\U0001f600",  # grinning face
    "\U0001f44d\U0001f3fd",  # thumbs up, skin tone
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag (ZWJ sequence)
    "\U0001d518",  # mathematical fraktur U
    "\U0001f1eb\U0001f1f7",  # a flag: two regional indicators
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # family (ZWJ sequence)
]
_words = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="\x00"
    ),
    min_size=1,
    max_size=12,
)
_piece = st.one_of(
    _words,
    st.sampled_from(_ASTRAL),
    st.from_regex(r"/[a-z_][a-z0-9_]{0,10}(@echo_bot)?", fullmatch=True),
    st.sampled_from(["@alice", "@bob", "@echo_bot", "@here", "@nobody"]),
    st.sampled_from(["**bold**", "_it_", "`code`", "~~x~~", "[l](https://e.com)", "> q"]),
    st.sampled_from([" ", "  ", "\n", "\n\n", "\t"]),
)
texts = st.lists(_piece, min_size=1, max_size=8).map("".join).filter(lambda t: bool(t.strip()))
posts = st.lists(
    st.tuples(
        st.sampled_from(["dm", "group", "channel"]), st.sampled_from(["alice", "bob"]), texts
    ),
    min_size=1,
    max_size=4,
)

_PTB_BOT = telegram.Bot("1:" + "A" * 43)
_COMMAND_AT_START = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_.\-]{1,32})?(?=\s|$)")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_update(data: dict[str, Any], *, text: str, chat: tuple[int, str], sender: User) -> None:
    ptb = telegram.Update.de_json(data, _PTB_BOT)
    aio = aiogram.types.Update.model_validate(data)
    assert ptb is not None
    for message in (ptb.message, aio.message):
        assert message is not None
        assert message.text == text
        assert (message.chat.id, message.chat.type) == chat
        assert message.from_user is not None
        assert message.from_user.id == int(sender.id)
        assert message.from_user.is_bot is False
        assert message.date.timestamp() > 1_700_000_000
    assert ptb.update_id == aio.update_id == data["update_id"]
    assert ptb.message is not None
    # Entities cut out exactly what they claim (PTB slices in UTF-16 code units).
    for entity, part in ptb.message.parse_entities().items():
        if entity.type == "bot_command":
            assert re.fullmatch(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_.\-]{1,32})?", part), part
        else:
            assert entity.type == "mention"
            assert part.startswith("@"), part
            assert len(part) > 1, part
    assert [e.model_dump(exclude_none=True) for e in aio.message.entities or []] == [
        {"type": e.type, "offset": e.offset, "length": e.length} for e in ptb.message.entities
    ]
    # What python-telegram-bot's command filters look at: entity 0 at offset 0.
    command = _COMMAND_AT_START.match(text)
    if command:
        first = ptb.message.entities[0]
        assert (first.type, first.offset, first.length) == (
            "bot_command",
            0,
            _utf16(command.group()),
        )
    else:
        assert not any(e.offset == 0 and e.type == "bot_command" for e in ptb.message.entities)


async def get_updates(world: World, expected: int) -> list[dict[str, Any]]:
    server, bot = world.server, world.bot
    got: list[dict[str, Any]] = []
    while len(got) < expected:
        resp = await server.http.post(
            f"/bot{bot.token}/getUpdates", data={"offset": str(world.offset), "timeout": "5"}
        )
        assert resp.status_code == 200, resp.text
        batch = resp.json()["result"]
        assert batch, f"expected {expected} updates, got {len(got)}"
        got += batch
        world.offset = batch[-1]["update_id"] + 1
    assert len(got) == expected
    return got


@module_loop
@pytest.mark.timeout(300)
@examples(60)
@given(batch=posts)
async def test_every_update_parses_in_both_libraries(
    world: World, batch: list[tuple[str, str, str]]
) -> None:
    server = world.server
    sent = []
    for chat_name, person, text in batch:
        room_id, chat_id, chat_type = world.chats[chat_name]
        author = world.people["alice" if chat_name == "dm" else person]  # alice's DM
        message = await server.post(author, room_id, text)
        sent.append((message["text"], (chat_id, chat_type), author))
    updates = await get_updates(world, len(sent))
    for data, (text, chat, sender) in zip(updates, sent, strict=True):
        check_update(data, text=text, chat=chat, sender=sender)
    assert [u["update_id"] for u in updates] == sorted({u["update_id"] for u in updates})

    # The bot answers each with the same text: the Message it gets back parses too.
    for text, (chat_id, _type), _sender in sent[:2]:
        resp = await server.http.post(
            f"/bot{world.bot.token}/sendMessage", json={"chat_id": chat_id, "text": text}
        )
        assert resp.status_code == 200, resp.text
        result = resp.json()["result"]
        ptb = telegram.Message.de_json(result, _PTB_BOT)
        aio = aiogram.types.Message.model_validate(result)
        for message in (ptb, aio):
            assert message is not None
            assert message.chat.id == chat_id
            assert message.from_user is not None
            assert message.from_user.id == int(world.bot.id)
            assert message.from_user.is_bot is True
            assert message.text == escape_markdown(text)


# --- markup, callback queries and edits (second slice) -------------------------------

_plain_labels = _words.filter(
    lambda t: bool(t.strip()) and not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in t)
)
_callback_data = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=64,
).filter(lambda d: len(d.encode()) <= 64)
_buttons = st.one_of(
    st.builds(lambda t, d: {"text": t, "callback_data": d}, _plain_labels, _callback_data),
    st.builds(
        lambda t, p: {"text": t, "url": f"https://example.com/{p}"},
        _plain_labels,
        st.from_regex(r"[a-z0-9/]{0,10}", fullmatch=True),
    ),
)
_keyboards = st.lists(st.lists(_buttons, min_size=1, max_size=3), min_size=1, max_size=3).filter(
    lambda rows: any("callback_data" in b for row in rows for b in row)
)


def _parse_both(data: dict[str, Any]) -> tuple[telegram.Update, aiogram.types.Update]:
    ptb = telegram.Update.de_json(data, _PTB_BOT)
    aio = aiogram.types.Update.model_validate(data)
    assert ptb is not None
    assert ptb.update_id == aio.update_id == data["update_id"]
    return ptb, aio


@module_loop
@pytest.mark.timeout(300)
@examples(30)
@given(
    chat_name=st.sampled_from(["dm", "group", "channel"]),
    person=st.sampled_from(["alice", "bob"]),
    keyboard=_keyboards,
    edited=texts,
)
async def test_markup_callbacks_and_edits_parse_in_both_libraries(
    world: World, chat_name: str, person: str, keyboard: list[list[dict[str, str]]], edited: str
) -> None:
    """A keyboard message (as sendMessage returns it), the callback_query of a click on
    it (with the bot's whole message), and an edited_message parse in both libraries."""
    server, bot = world.server, world.bot
    room_id, chat_id, chat_type = world.chats[chat_name]
    who = world.people["alice" if chat_name == "dm" else person]
    resp = await server.http.post(
        f"/bot{bot.token}/sendMessage",
        json={"chat_id": chat_id, "text": "Pick:", "reply_markup": {"inline_keyboard": keyboard}},
    )
    assert resp.status_code == 200, resp.text
    sent = resp.json()["result"]
    ptb_message = telegram.Message.de_json(sent, _PTB_BOT)
    aio_message = aiogram.types.Message.model_validate(sent)
    for message in (ptb_message, aio_message):
        assert message is not None
        assert isinstance(
            message.reply_markup,
            telegram.InlineKeyboardMarkup | aiogram.types.InlineKeyboardMarkup,
        )
        assert [[b.text for b in row] for row in message.reply_markup.inline_keyboard] == [
            [b["text"] for b in row] for row in keyboard
        ]
    row, column = next(
        (r, c)
        for r, buttons in enumerate(keyboard)
        for c, b in enumerate(buttons)
        if "callback_data" in b
    )
    post = await server.post(who, room_id, "to be edited")
    clicked = await server.ok(
        "POST",
        f"/api/v1/messages/{sent['message_id']}/buttons",
        who,
        json={"row": row, "column": column},
    )
    await server.ok("PATCH", f"/api/v1/messages/{post['id']}", who, json={"text": edited})
    new, click, edit = await get_updates(world, 3)

    ptb, aio = _parse_both(new)
    assert ptb.message is not None
    assert aio.message is not None
    ptb, aio = _parse_both(click)
    for query in (ptb.callback_query, aio.callback_query):
        assert query is not None
        assert query.id == clicked["callback_id"]
        assert query.data == keyboard[row][column]["callback_data"]
        assert query.from_user.id == int(who.id)
        assert isinstance(query.message, telegram.Message | aiogram.types.Message)
        assert query.message.message_id == sent["message_id"]
        assert (query.message.chat.id, query.message.chat.type) == (chat_id, chat_type)
    ptb, aio = _parse_both(edit)
    for message in (ptb.edited_message, aio.edited_message):
        assert message is not None
        assert message.message_id == int(post["id"])
        assert message.text == edited
        assert message.edit_date is not None
    answered = await server.http.post(
        f"/bot{bot.token}/answerCallbackQuery",
        json={"callback_query_id": clicked["callback_id"]},
    )
    assert answered.json() == {"ok": True, "result": True}


@module_loop
async def test_chats_and_members_parse_in_both_libraries(world: World) -> None:
    """getChat (ChatFullInfo) and getChatMember (each status) parse in both libraries."""
    server, bot = world.server, world.bot
    member_types = aiogram.methods.GetChatMember.__returning__
    for _room_id, chat_id, chat_type in world.chats.values():
        resp = await server.http.post(f"/bot{bot.token}/getChat", json={"chat_id": chat_id})
        info = resp.json()["result"]
        ptb_chat = telegram.ChatFullInfo.de_json(info, _PTB_BOT)
        aio_chat = aiogram.types.ChatFullInfo.model_validate(info)
        assert ptb_chat is not None
        assert (ptb_chat.id, ptb_chat.type) == (aio_chat.id, aio_chat.type) == (chat_id, chat_type)
        for user_id in (world.people["alice"].id, world.people["bob"].id, bot.id):
            resp = await server.http.post(
                f"/bot{bot.token}/getChatMember", json={"chat_id": chat_id, "user_id": user_id}
            )
            data = resp.json()["result"]
            ptb_member = telegram.ChatMember.de_json(data, _PTB_BOT)
            aio_member = pydantic.TypeAdapter(member_types).validate_python(data)
            assert ptb_member is not None
            assert ptb_member.status == aio_member.status == data["status"]
            assert ptb_member.user.id == aio_member.user.id == int(user_id)
