"""Bot message markup against a real server (issue 6, second slice): inline keyboards,
clicks and answers, reply keyboards, the bot editing and deleting its messages, chat
actions, getChat / getChatMember, and ``edited_message`` updates.

Each test names the attack or the contract it proves; the parse of every update by
python-telegram-bot and aiogram is in test_botapi_conformance.py, and PTB's own
``inlinekeyboard.py`` runs in test_botapi_ptb.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import update

from redoubt.storage.schema import bot_callbacks
from tests.harness import Bot, Server, User, deployment, run_server
from tests.test_botapi import call, dm_with, result, setup

API = "/api/v1"
SECRET_DATA = "cb-secret-7f3a"
KEYBOARD = {
    "inline_keyboard": [
        [
            {"text": "One", "callback_data": SECRET_DATA},
            {"text": "Two", "callback_data": "2"},
        ],
        [{"text": "Docs", "url": "https://example.com/docs"}],
    ]
}


async def send_keyboard(
    server: Server, bot: Bot, chat_id: int | str, markup: Any = None
) -> dict[str, Any]:
    message: dict[str, Any] = await result(
        server,
        bot,
        "sendMessage",
        json={"chat_id": chat_id, "text": "Please choose:", "reply_markup": markup or KEYBOARD},
    )
    return message


async def updates(server: Server, bot: Bot) -> list[dict[str, Any]]:
    """Everything pending, confirmed at once (so the next call sees only new ones)."""
    found: list[dict[str, Any]] = await result(server, bot, "getUpdates", json={"timeout": 0})
    if found:
        await result(
            server, bot, "getUpdates", json={"offset": found[-1]["update_id"] + 1, "timeout": 0}
        )
    return found


def click(server: Server, user: User, message_id: int | str, row: int, column: int) -> Any:
    return server.request(
        "POST",
        f"{API}/messages/{message_id}/buttons",
        user,
        json={"row": row, "column": column},
    )


async def test_click_answer_edit_round_trip(any_server: Server) -> None:
    """The contract: clients see buttons without callback_data; a click reaches the bot
    as a callback_query with the bot's whole message; the answer reaches the clicker
    as bot.callback_answer; editMessageText returns the edited Message and (as on
    Telegram) an edit without reply_markup removes the keyboard."""
    server = any_server
    alice, bot, _group, dm = await setup(server)
    await updates(server, bot)
    sent = await send_keyboard(server, bot, int(alice.id))
    assert sent["reply_markup"] == KEYBOARD
    view = await server.ok("GET", f"{API}/messages/{sent['message_id']}", alice)
    assert view["inline_keyboard"] == [
        [
            {"text": "One", "kind": "callback", "url": None},
            {"text": "Two", "kind": "callback", "url": None},
        ],
        [{"text": "Docs", "kind": "url", "url": "https://example.com/docs"}],
    ]
    assert view["reply_keyboard"] is None
    history = await server.request("GET", f"{API}/rooms/{dm}/messages", alice)
    assert SECRET_DATA not in history.text
    assert "callback_data" not in history.text

    async with server.events(alice) as stream:
        resp = await click(server, alice, sent["message_id"], 0, 0)
        assert resp.status_code == 202, resp.text
        callback_id = resp.json()["callback_id"]
        assert SECRET_DATA not in resp.text
        (update,) = await updates(server, bot)
        query = update["callback_query"]
        assert query["id"] == callback_id
        assert query["data"] == SECRET_DATA
        assert query["from"]["id"] == int(alice.id)
        assert query["message"]["message_id"] == sent["message_id"]
        assert query["message"]["date"] > 0
        assert query["message"]["reply_markup"] == KEYBOARD
        assert query["message"]["chat"] == sent["chat"]
        # chat_instance: the same for every click in this chat.
        again = (await click(server, alice, sent["message_id"], 0, 1)).json()["callback_id"]
        (second,) = await updates(server, bot)
        assert second["callback_query"]["chat_instance"] == query["chat_instance"]
        assert second["callback_query"]["id"] == again != callback_id

        assert await result(
            server,
            bot,
            "answerCallbackQuery",
            json={"callback_query_id": callback_id, "text": "Noted", "show_alert": True},
        )
        event = await stream.until("bot.callback_answer")
        assert event["data"] == {"callback_id": callback_id, "text": "Noted", "show_alert": True}

    edited = await result(
        server,
        bot,
        "editMessageText",
        json={"chat_id": alice.id, "message_id": sent["message_id"], "text": "Selected: 1"},
    )
    assert edited["text"] == "Selected: 1"
    assert edited["edit_date"] > 0
    assert "reply_markup" not in edited
    view = await server.ok("GET", f"{API}/messages/{sent['message_id']}", alice)
    assert view["inline_keyboard"] is None
    assert view["edited_at"] is not None
    # No keyboard any more: the old position is gone.
    assert (await click(server, alice, sent["message_id"], 0, 0)).status_code == 400

    replaced = await result(
        server,
        bot,
        "editMessageReplyMarkup",
        json={
            "chat_id": alice.id,
            "message_id": sent["message_id"],
            "reply_markup": {"inline_keyboard": [[{"text": "Again", "callback_data": "a"}]]},
        },
    )
    assert replaced["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert replaced["text"] == "Selected: 1"
    unchanged = await call(
        server,
        bot.token,
        "editMessageReplyMarkup",
        json={
            "chat_id": alice.id,
            "message_id": sent["message_id"],
            "reply_markup": {"inline_keyboard": [[{"text": "Again", "callback_data": "a"}]]},
        },
    )
    assert unchanged.status_code == 400
    assert unchanged.json()["description"].startswith("Bad Request: message is not modified")


async def test_click_attacks(server: Server) -> None:
    """A non-member's click is 404 (the message stays invisible); a link button, a
    forged or unknown position, or a message without keyboard are 400; nothing reaches
    the bot."""
    alice, bot, group, _dm = await setup(server)
    mallory = await server.create_user("mallory")
    sent = await send_keyboard(server, bot, -int(group))
    await updates(server, bot)
    message_id = sent["message_id"]

    assert (await click(server, mallory, message_id, 0, 0)).status_code == 404
    link = await click(server, alice, message_id, 1, 0)
    assert link.status_code == 400
    for row, column in ((1, 1), (2, 0), (0, 2), (99, 99)):
        assert (await click(server, alice, message_id, row, column)).status_code == 400
    for body in ({"row": -1, "column": 0}, {"row": 0}, {"row": "0", "column": 0}):
        forged = await server.request(
            "POST", f"{API}/messages/{message_id}/buttons", alice, json=body
        )
        assert forged.status_code == 400
    plain = await server.post(alice, group, "no buttons here")
    assert (await click(server, alice, plain["id"], 0, 0)).status_code == 400
    assert (await click(server, alice, "999999999", 0, 0)).status_code == 404
    assert [u for u in await updates(server, bot) if "callback_query" in u] == []


async def test_answer_attacks(any_server: Server) -> None:
    """Another bot can't answer a click, nobody can answer twice, and an unknown id is
    refused, each with Telegram's wording; the clicker hears one answer."""
    server = any_server
    alice, bot, _group, _dm = await setup(server)
    other = await server.create_bot(alice, "other_bot")
    await dm_with(server, alice, other)
    sent = await send_keyboard(server, bot, int(alice.id))
    callback_id = (await click(server, alice, sent["message_id"], 0, 0)).json()["callback_id"]
    invalid = "Bad Request: query is too old and response timeout expired or query ID is invalid"

    foreign = await call(
        server, other.token, "answerCallbackQuery", json={"callback_query_id": callback_id}
    )
    assert (foreign.status_code, foreign.json()["description"]) == (400, invalid)
    assert await result(server, bot, "answerCallbackQuery", json={"callback_query_id": callback_id})
    twice = await call(
        server, bot.token, "answerCallbackQuery", json={"callback_query_id": callback_id}
    )
    assert (twice.status_code, twice.json()["description"]) == (400, invalid)
    unknown = await call(
        server, bot.token, "answerCallbackQuery", json={"callback_query_id": "nope"}
    )
    assert unknown.status_code == 400
    too_long = await click(server, alice, sent["message_id"], 0, 1)
    resp = await call(
        server,
        bot.token,
        "answerCallbackQuery",
        json={"callback_query_id": too_long.json()["callback_id"], "text": "x" * 201},
    )
    assert resp.status_code == 400


async def test_bot_edits_and_deletes_only_its_own(server: Server) -> None:
    """editMessageText / editMessageReplyMarkup / deleteMessage on a user's message, or
    on the bot's message named through another chat, are refused; the message stays."""
    alice, bot, group, _dm = await setup(server)
    mine = await server.post(alice, group, "alice's words")
    theirs = {"chat_id": -int(group), "message_id": mine["id"]}
    for method, extra in (
        ("editMessageText", {"text": "pwned"}),
        ("editMessageReplyMarkup", {"reply_markup": KEYBOARD}),
        ("deleteMessage", {}),
    ):
        resp = await call(server, bot.token, method, json={**theirs, **extra})
        assert resp.status_code == 400, (method, resp.text)
    view = await server.ok("GET", f"{API}/messages/{mine['id']}", alice)
    assert (view["text"], view["deleted"], view["inline_keyboard"]) == (
        "alice's words",
        False,
        None,
    )

    sent = await send_keyboard(server, bot, -int(group))
    wrong_chat = await call(
        server,
        bot.token,
        "editMessageText",
        json={"chat_id": alice.id, "message_id": sent["message_id"], "text": "moved"},
    )
    assert wrong_chat.status_code == 400
    reply_kb = await call(
        server,
        bot.token,
        "editMessageReplyMarkup",
        json={
            "chat_id": -int(group),
            "message_id": sent["message_id"],
            "reply_markup": {"keyboard": [["a"]]},
        },
    )
    assert reply_kb.status_code == 400
    assert await result(
        server,
        bot,
        "deleteMessage",
        json={"chat_id": -int(group), "message_id": sent["message_id"]},
    )
    view = await server.ok("GET", f"{API}/messages/{sent['message_id']}", alice)
    assert view["deleted"] is True
    assert view["inline_keyboard"] is None
    gone = await call(
        server,
        bot.token,
        "deleteMessage",
        json={"chat_id": -int(group), "message_id": sent["message_id"]},
    )
    assert gone.status_code == 400


async def test_markup_refusals(server: Server) -> None:
    """Links other than http(s) (javascript:, data:, tg:), over-long callback_data,
    button kinds we don't support and malformed markup are 400; nothing is posted."""
    alice, bot, _group, dm = await setup(server)
    bad_markups: list[Any] = [
        {"inline_keyboard": [[{"text": "x", "url": "javascript:alert(1)"}]]},
        {"inline_keyboard": [[{"text": "x", "url": "JavaScript:alert(1)//http://a"}]]},
        {"inline_keyboard": [[{"text": "x", "url": "data:text/html,<script>"}]]},
        {"inline_keyboard": [[{"text": "x", "url": "tg://user?id=1"}]]},
        {"inline_keyboard": [[{"text": "x", "url": "https://"}]]},
        {"inline_keyboard": [[{"text": "x", "url": "https://a.example/ b"}]]},
        {"inline_keyboard": [[{"text": "x", "callback_data": "é" * 33}]]},
        {"inline_keyboard": [[{"text": "x", "callback_data": ""}]]},
        {"inline_keyboard": [[{"text": "x", "login_url": {"url": "https://a.example"}}]]},
        {"inline_keyboard": [[{"text": "x", "web_app": {"url": "https://a.example"}}]]},
        {"inline_keyboard": [[{"text": "x", "callback_data": "a", "url": "https://a.b"}]]},
        {"inline_keyboard": [[{"text": "", "callback_data": "a"}]]},
        {"inline_keyboard": [[{"callback_data": "a"}]]},
        {"inline_keyboard": [[]]},
        {"inline_keyboard": "nope"},
        {"keyboard": [[{"text": "Share", "request_contact": True}]]},
        {"keyboard": [["ok"]], "input_field_placeholder": "x" * 65},
        {"something": True},
        [1, 2],
    ]
    for markup in bad_markups:
        resp = await call(
            server,
            bot.token,
            "sendMessage",
            json={"chat_id": alice.id, "text": "hi", "reply_markup": markup},
        )
        assert resp.status_code == 400, (markup, resp.text)
    as_text = await call(
        server,
        bot.token,
        "sendMessage",
        data={"chat_id": alice.id, "text": "hi", "reply_markup": "{not json"},
    )
    assert as_text.status_code == 400
    assert await server.ok("GET", f"{API}/rooms/{dm}/messages", alice) == []


async def test_reply_keyboards(server: Server) -> None:
    """ReplyKeyboardMarkup, ReplyKeyboardRemove and ForceReply reach clients in the
    contract's shape (sent as form fields, JSON text, as PTB does)."""
    alice, bot, _group, _dm = await setup(server)
    markups = [
        (
            '{"keyboard":[[{"text":"Boy"},{"text":"Girl"}],["Other"]],'
            '"one_time_keyboard":true,"input_field_placeholder":"Boy or Girl?",'
            '"resize_keyboard":true,"selective":true}',
            {
                "keyboard": [["Boy", "Girl"], ["Other"]],
                "one_time": True,
                "placeholder": "Boy or Girl?",
                "force_reply": False,
                "remove": False,
            },
        ),
        (
            '{"remove_keyboard":true}',
            {
                "keyboard": [],
                "one_time": False,
                "placeholder": None,
                "force_reply": False,
                "remove": True,
            },
        ),
        (
            '{"force_reply":true,"selective":true}',
            {
                "keyboard": [],
                "one_time": False,
                "placeholder": None,
                "force_reply": True,
                "remove": False,
            },
        ),
    ]
    for raw, expected in markups:
        sent = await result(
            server,
            bot,
            "sendMessage",
            data={"chat_id": alice.id, "text": "Pick", "reply_markup": raw},
        )
        assert "reply_markup" not in sent  # Telegram echoes inline keyboards only
        view = await server.ok("GET", f"{API}/messages/{sent['message_id']}", alice)
        assert (view["reply_keyboard"], view["inline_keyboard"]) == (expected, None)


async def test_edited_messages_reach_the_bot(any_server: Server) -> None:
    """A user's edit becomes an edited_message update (with edit_date); pins and thread
    replies of an unedited message don't."""
    server = any_server
    alice, bot, group, _dm = await setup(server)
    first = await server.post(alice, group, "first")
    await server.ok("PUT", f"{API}/messages/{first['id']}/pin", alice)
    await server.post(alice, group, "in thread", thread_id=first["id"])
    await server.ok("PATCH", f"{API}/messages/{first['id']}", alice, json={"text": "first!"})
    found = await updates(server, bot)
    kinds = [next(k for k in u if k != "update_id") for u in found]
    assert kinds == ["message", "message", "edited_message"]
    edited = found[-1]["edited_message"]
    assert (edited["message_id"], edited["text"]) == (int(first["id"]), "first!")
    assert edited["edit_date"] >= edited["date"] > 0


async def test_chat_action_chat_and_members(server: Server) -> None:
    """sendChatAction shows the bot typing to the room; getChat / getChatMember answer
    for chats the bot is in (roles mapped) and nowhere else."""
    alice, bot, group, _dm = await setup(server)
    bob = await server.create_user("bob")
    await server.ok("POST", f"{API}/rooms/{group}/members", alice, json={"user_id": bob.id})
    outside = await server.room(alice, "elsewhere", "private")

    async with server.events(bob) as stream:
        assert await result(
            server, bot, "sendChatAction", json={"chat_id": -int(group), "action": "typing"}
        )
        typing = await stream.until("typing")
        assert typing["data"] == {"room_id": group, "user_id": bot.id}
    bad = await call(
        server, bot.token, "sendChatAction", json={"chat_id": -int(group), "action": "dance"}
    )
    assert bad.status_code == 400
    for method in ("sendChatAction", "getChat"):
        resp = await call(
            server, bot.token, method, json={"chat_id": -int(outside), "action": "typing"}
        )
        assert resp.status_code == 400, method

    chat = await result(server, bot, "getChat", json={"chat_id": -int(group)})
    assert (chat["id"], chat["type"], chat["title"]) == (-int(group), "group", "team")
    private = await result(server, bot, "getChat", json={"chat_id": alice.id})
    assert (private["id"], private["type"]) == (int(alice.id), "private")

    async def status(user_id: str) -> str:
        member = await result(
            server, bot, "getChatMember", json={"chat_id": -int(group), "user_id": user_id}
        )
        assert member["user"]["id"] == int(user_id)
        return str(member["status"])

    assert await status(alice.id) == "creator"
    assert await status(bob.id) == "member"
    assert await status(bot.id) == "member"
    await server.ok(
        "PATCH", f"{API}/rooms/{group}/members/{bob.id}", alice, json={"role": "moderator"}
    )
    assert await status(bob.id) == "administrator"
    await server.ok("DELETE", f"{API}/rooms/{group}/members/{bob.id}", alice)
    assert await status(bob.id) == "left"
    unknown = await call(
        server, bot.token, "getChatMember", json={"chat_id": -int(group), "user_id": 424242}
    )
    assert unknown.status_code == 400
    elsewhere = await call(
        server, bot.token, "getChatMember", json={"chat_id": -int(outside), "user_id": alice.id}
    )
    assert elsewhere.status_code == 400


async def test_click_rate_limit(tmp_path: Path) -> None:
    """Clicks are rate limited per user (429 with Retry-After)."""
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(rate_post_per_10s=5)) as server,
    ):
        alice, bot, _group, _dm = await setup(server)
        sent = await send_keyboard(server, bot, int(alice.id))
        responses = [await click(server, alice, sent["message_id"], 0, 0) for _ in range(8)]
        statuses = [r.status_code for r in responses]
        assert statuses[:5] == [202] * 5
        assert statuses[-1] == 429
        assert int(responses[-1].headers["Retry-After"]) >= 1


async def test_room_bot_commands(server: Server) -> None:
    """GET /rooms/{id}/bot-commands lists the commands of the bots in a room to its
    members, nobody else (404), and not those of a bot that left."""
    alice, bot, group, _dm = await setup(server)
    mallory = await server.create_user("mallory")
    assert await server.ok("GET", f"{API}/rooms/{group}/bot-commands", alice) == []
    commands = [
        {"command": "start", "description": "Start over"},
        {"command": "help", "description": "What I can do"},
    ]
    assert await result(server, bot, "setMyCommands", json={"commands": commands})
    listed = await server.ok("GET", f"{API}/rooms/{group}/bot-commands", alice)
    assert listed == [
        {"bot_id": bot.id, "bot_username": bot.username, **command} for command in commands
    ]
    outsider = await server.request("GET", f"{API}/rooms/{group}/bot-commands", mallory)
    assert outsider.status_code == 404
    await server.ok("DELETE", f"{API}/rooms/{group}/members/{bot.id}", alice)
    assert await server.ok("GET", f"{API}/rooms/{group}/bot-commands", alice) == []


async def test_old_clicks_are_pruned(server: Server) -> None:
    """Clicks are kept only while they can still be answered (then twice as long)."""
    alice, bot, _group, _dm = await setup(server)
    message = await send_keyboard(server, bot, alice.id)
    old = (await click(server, alice, message["message_id"], 0, 1)).json()["callback_id"]
    recent = (await click(server, alice, message["message_id"], 0, 1)).json()["callback_id"]
    async with server.container.database.transaction("test") as txn:
        await txn.conn.execute(
            update(bot_callbacks)
            .where(bot_callbacks.c.id == old)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )
    assert await server.container.bot_activity.prune() == 1
    answered = await call(
        server, bot.token, "answerCallbackQuery", json={"callback_query_id": recent}
    )
    assert answered.json()["ok"] is True
    gone = await call(server, bot.token, "answerCallbackQuery", json={"callback_query_id": old})
    assert gone.status_code == 400
