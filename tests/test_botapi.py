"""The Telegram-compatible Bot API against a real server (issue 6, part 2, first slice).

Each test names what it proves; the conformance of every update with the client
libraries is in test_botapi_conformance.py, and python-telegram-bot's own echobot runs
in test_botapi_ptb.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from redoubt.domain.botapi import render_text
from tests.harness import Bot, Server, User, deployment, run_server, server_log


async def call(
    server: Server, token: str, method: str, *, http_method: str = "POST", **kwargs: Any
) -> httpx.Response:
    return await server.http.request(http_method, f"/bot{token}/{method}", **kwargs)


async def result(server: Server, bot: Bot, method: str, **kwargs: Any) -> Any:
    resp = await call(server, bot.token, method, **kwargs)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ok"] is True, body
    return body["result"]


async def dm_with(server: Server, user: User, bot: Bot) -> str:
    room = await server.ok("POST", "/api/v1/dms", user, json={"user_ids": [bot.id]})
    return str(room["id"])


async def setup(server: Server) -> tuple[User, Bot, str, str]:
    """alice; a bot in her private group; the group's id; her DM with the bot."""
    alice = await server.create_user("alice")
    group = await server.room(alice, "team", "private")
    bot = await server.create_bot(alice, "helper_bot", group)
    await server.ok("POST", f"/api/v1/rooms/{group}/members", alice, json={"user_id": bot.id})
    dm = await dm_with(server, alice, bot)
    return alice, bot, group, dm


async def test_get_me_and_errors(server: Server) -> None:
    """getMe has the fields PTB needs; case-insensitive methods; Telegram's envelopes for
    a bad token (401), an unknown method (404) and a webhook without a secret (400)."""
    alice = await server.create_user("alice")
    bot = await server.create_bot(alice, "helper_bot")
    me = await result(server, bot, "getMe", http_method="GET")
    assert me == {
        "id": int(bot.id),
        "is_bot": True,
        "first_name": me["first_name"],
        "username": "helper_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }
    assert me["first_name"]
    assert (await result(server, bot, "GETME"))["id"] == int(bot.id)

    wrong = bot.token[:-4] + ("AAAA" if not bot.token.endswith("AAAA") else "BBBB")
    resp = await call(server, wrong, "getMe")
    assert resp.status_code == 401
    assert resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    resp = await call(server, bot.token, "noSuchMethod")
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    resp = await call(server, bot.token, "setWebhook", data={"url": "https://example.com/x"})
    assert resp.status_code == 400
    # Without a secret_token (tests/test_botapi_webhook.py has the rest).
    assert resp.json()["description"].startswith("Bad Request: secret_token is required")
    assert await result(server, bot, "deleteWebhook") is True
    assert (await result(server, bot, "getWebhookInfo"))["url"] == ""
    assert await result(server, bot, "logOut") is True
    assert await result(server, bot, "close") is True


async def test_failed_tokens_are_throttled(tmp_path: Path) -> None:
    """Guessing tokens in the URL spends the same per-address budget as bearer tokens:
    past it even the right token gets 429 (so guessing can't tell right from wrong)."""
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(rate_token_failures_per_minute=5)) as server,
    ):
        alice = await server.create_user("alice")
        bot = await server.create_bot(alice, "helper_bot")
        assert (await call(server, bot.token, "getMe")).status_code == 200
        for i in range(5):
            resp = await call(server, f"{bot.id}:{'x' * 42}{i}", "getMe")
            assert resp.status_code == 401
        resp = await call(server, bot.token, "getMe")
        assert resp.status_code == 429
        body = resp.json()
        assert body["error_code"] == 429
        assert body["description"].startswith("Too Many Requests: retry after ")
        assert body["parameters"]["retry_after"] >= 1
        assert resp.headers["retry-after"] == str(body["parameters"]["retry_after"])
        # And a bearer token from there is refused too: one budget.
        resp = await server.request("GET", "/api/v1/users/me", alice)
        assert resp.status_code == 429


async def test_updates_and_replies(any_server: Server) -> None:
    server = any_server
    """A DM and a group message arrive as updates (private chat id = user id, group id
    negative), never the bot's own messages; offsets confirm; sendMessage answers in
    both chats and comes back as the user's room message."""
    alice, bot, group, dm = await setup(server)
    await server.post(alice, dm, "/start")
    await server.post(alice, group, "hello @helper_bot 😀 /help")
    updates = await result(server, bot, "getUpdates", data={"timeout": "5"})
    assert [u["message"]["text"] for u in updates] == ["/start", "hello @helper_bot 😀 /help"]
    first, second = updates
    assert first["message"]["chat"] == {
        "id": int(alice.id),
        "type": "private",
        "first_name": "Alice",
        "username": "alice",
    }
    assert first["message"]["from"]["id"] == int(alice.id)
    assert first["message"]["from"]["is_bot"] is False
    assert first["message"]["date"] > 1_700_000_000
    assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert second["message"]["chat"] == {"id": -int(group), "type": "group", "title": "team"}
    # "hello " = 6, "@helper_bot" = 11, " 😀 " = 4 UTF-16 units (the emoji is astral).
    assert second["message"]["entities"] == [
        {"type": "mention", "offset": 6, "length": 11},
        {"type": "bot_command", "offset": 21, "length": 5},
    ]
    assert first["update_id"] < second["update_id"]

    # Unconfirmed: the same again. Confirmed by offset: gone, and remembered.
    again = await result(server, bot, "getUpdates")
    assert [u["update_id"] for u in again] == [first["update_id"], second["update_id"]]
    assert await result(server, bot, "getUpdates", data={"offset": second["update_id"]}) == [second]
    assert await result(server, bot, "getUpdates", data={"offset": second["update_id"] + 1}) == []
    assert await result(server, bot, "getUpdates") == []

    sent = await result(
        server,
        bot,
        "sendMessage",
        json={"chat_id": int(alice.id), "text": "Hi <b>there</b>!", "parse_mode": "HTML"},
    )
    assert sent["chat"]["id"] == int(alice.id)
    assert sent["from"]["id"] == int(bot.id)
    assert sent["from"]["is_bot"] is True
    assert sent["text"] == "Hi **there**\\!"
    in_group = await result(
        server,
        bot,
        "sendMessage",
        params={"chat_id": str(-int(group))},
        data={"text": "1. not a list", "reply_markup": '{"force_reply":true}', "unknown": "x"},
    )
    assert in_group["chat"]["id"] == -int(group)
    history = await server.ok("GET", f"/api/v1/rooms/{group}/messages", alice)
    texts = [m["text"] for m in history]
    assert "1\\. not a list" in texts
    # The bot's own messages never come back to it.
    assert await result(server, bot, "getUpdates") == []


async def test_send_message_refusals(server: Server) -> None:
    """Telegram's errors for chats the bot can't use: a user who never talked to it,
    a room it isn't in, malformed ids; bad markup and JSON are 400s, not 500s."""
    alice, bot, _group, dm = await setup(server)
    bob = await server.create_user("bob")
    other = await server.room(bob, "other", "private")
    cases = [
        ({"chat_id": bob.id, "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"chat_id": str(-int(other)), "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"chat_id": "@team", "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"chat_id": "1e3", "text": "hi"}, 400, "Bad Request: chat not found"),
        ({"chat_id": alice.id}, 400, "Bad Request: message text is empty"),
        ({"text": "hi"}, 400, "Bad Request: chat_id is empty"),
        (
            {"chat_id": alice.id, "text": "<script>x</script>", "parse_mode": "HTML"},
            400,
            'Bad Request: Can\'t parse entities: Unsupported start tag "script"',
        ),
        (
            {"chat_id": alice.id, "text": "a.b", "parse_mode": "MarkdownV2"},
            400,
            "Bad Request: Can't parse entities: Character '.' is reserved and must be "
            "escaped with '\\' at byte offset 1",
        ),
        (
            {"chat_id": alice.id, "text": "x", "reply_markup": "[1"},
            400,
            "Bad Request: can't parse reply_markup JSON object",
        ),
    ]
    for data, status, description in cases:
        resp = await call(server, bot.token, "sendMessage", data=data)
        assert resp.status_code == status, (data, resp.text)
        assert resp.json() == {"ok": False, "error_code": status, "description": description}
    resp = await call(
        server,
        bot.token,
        "sendMessage",
        content=b"[1]",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400
    # A file part means nothing to sendMessage (files: test_botapi_files.py).
    resp = await call(server, bot.token, "sendMessage", files={"document": ("a.txt", b"x")})
    assert resp.status_code == 400
    assert resp.json()["description"] == "Bad Request: chat_id is empty"
    # Multipart text fields work.
    sent = await result(
        server, bot, "sendMessage", files={"chat_id": (None, alice.id), "text": (None, "ok")}
    )
    assert sent["chat"]["id"] == int(alice.id)
    assert dm


async def test_no_history_from_before_joining(any_server: Server) -> None:
    server = any_server
    """A bot added to a room doesn't receive what was said there before, and nothing
    after it was removed."""
    alice = await server.create_user("alice")
    group = await server.room(alice, "team", "private")
    bot = await server.create_bot(alice, "helper_bot", group)
    await server.post(alice, group, "before the bot")
    await server.ok("POST", f"/api/v1/rooms/{group}/members", alice, json={"user_id": bot.id})
    await server.post(alice, group, "while the bot is here")
    await server.ok("DELETE", f"/api/v1/rooms/{group}/members/{bot.id}", alice)
    await server.post(alice, group, "after the bot left")
    updates = await result(server, bot, "getUpdates")
    assert [u["message"]["text"] for u in updates] == ["while the bot is here"]


async def test_long_poll_wakes_and_conflicts(any_server: Server) -> None:
    server = any_server
    """A long poll returns as soon as a message arrives; a second poller ends the first
    with 409 Conflict, as Telegram does."""
    alice, bot, _group, dm = await setup(server)

    async def poll() -> httpx.Response:
        return await call(server, bot.token, "getUpdates", data={"timeout": "20"}, timeout=30)

    first = asyncio.create_task(poll())
    await asyncio.sleep(0.5)
    second = asyncio.create_task(poll())
    resp = await asyncio.wait_for(first, 5)
    assert resp.status_code == 409
    assert resp.json()["description"].startswith("Conflict: terminated by other getUpdates")
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(0.3)
    await server.post(alice, dm, "ping")
    resp = await asyncio.wait_for(second, 5)
    assert resp.status_code == 200
    assert [u["message"]["text"] for u in resp.json()["result"]] == ["ping"]
    assert asyncio.get_running_loop().time() - started < 3


async def test_commands_stored(server: Server) -> None:
    alice = await server.create_user("alice")
    bot = await server.create_bot(alice, "helper_bot")
    assert await result(server, bot, "getMyCommands") == []
    commands = [
        {"command": "start", "description": "Start"},
        {"command": "help", "description": "Help"},
    ]
    assert await result(server, bot, "setMyCommands", json={"commands": commands}) is True
    assert await result(server, bot, "getMyCommands") == commands
    resp = await call(
        server,
        bot.token,
        "setMyCommands",
        json={"commands": [{"command": "Bad Name", "description": "x"}]},
    )
    assert resp.status_code == 400
    assert await result(server, bot, "deleteMyCommands") is True
    assert await result(server, bot, "getMyCommands") == []


async def test_token_never_logged_or_in_metrics(server: Server) -> None:
    """T1/T7: the token in /bot<token>/… never reaches the log (access log, errors) or
    the metrics, whatever the request does."""
    alice, bot, _group, dm = await setup(server)
    secret = bot.token.partition(":")[2]
    with server_log(logging.DEBUG) as log:
        await result(server, bot, "getMe")
        await server.post(alice, dm, "hello")
        await result(server, bot, "getUpdates")
        await result(server, bot, "sendMessage", data={"chat_id": alice.id, "text": "hi"})
        await call(server, bot.token, "noSuchMethod")
        await call(server, bot.token, "sendMessage", data={"chat_id": "x"})
        await call(server, bot.token + "x", "getMe")
        await call(server, bot.token, "getMe", http_method="PUT")
        await server.http.get(f"/file/bot{bot.token}/x")
    text = log.text()
    assert "/bot<redacted>/getMe" in text
    assert secret not in text
    assert bot.token not in text
    metrics = (await server.http.get("/metrics")).text
    assert secret not in metrics


async def test_configurable_prefix_moves_the_bot_api_and_its_log_redaction(
    tmp_path: Path,
) -> None:
    """With ``bot_api_prefix="/telegram"`` the Bot API and file routes answer under it
    (and no longer at the root), and the access log still never holds the token."""
    async with (
        deployment("sqlite", tmp_path / "data") as settings,
        run_server(settings(bot_api_prefix="/telegram")) as server,
    ):
        _alice, bot, _group, _dm = await setup(server)
        secret = bot.token.partition(":")[2]
        with server_log(logging.DEBUG) as log:
            moved = await server.http.post(f"/telegram/bot{bot.token}/getMe")
            assert moved.status_code == 200, moved.text
            assert moved.json()["result"]["id"] == int(bot.id)
            root = await server.http.post(f"/bot{bot.token}/getMe")
            assert root.status_code == 404  # the web client's 404, not the Bot API
            await server.http.get(f"/telegram/file/bot{bot.token}/x")
        text = log.text()
        assert "/telegram/bot<redacted>/getMe" in text
        assert "/telegram/file/bot<redacted>/x" in text
        assert secret not in text


def test_render_text_is_safe() -> None:
    """Whatever the parse mode, only supported entities become markup; links keep only
    http(s) URLs; everything else is escaped."""
    assert render_text("**x** <b>", None) == "\\*\\*x\\*\\* \\<b\\>"
    assert render_text('<a href="javascript:alert(1)">x</a>', "HTML") == "x"
    assert render_text('<a href="tg://user?id=5">Ann</a>', "HTML") == "Ann"
    assert render_text('<a href="https://e.com/a b">x</a>', "HTML") == "[x](https://e.com/a%20b)"
    assert render_text("[x](javascript:alert\\(1\\))", "MarkdownV2") == "x"
    assert render_text("<code>`a`</code>", "HTML") == "`` `a` ``"
    assert render_text("&lt;img src=x&gt;", "HTML") == "\\<img src\\=x\\>"
    with pytest.raises(ValueError, match="parse_mode"):
        render_text("x", "BBCode")


async def test_drop_pending_updates(server: Server) -> None:
    """deleteWebhook(drop_pending_updates) confirms everything so far (PTB and aiogram
    call it on start when told to skip what arrived while the bot was down)."""
    alice, bot, _group, dm = await setup(server)
    await server.post(alice, dm, "while the bot was down")
    assert len(await result(server, bot, "getUpdates", data={"timeout": "5"})) == 1
    assert await result(server, bot, "deleteWebhook", data={"drop_pending_updates": "true"})
    assert await result(server, bot, "getUpdates") == []
    resp = await call(server, bot.token, "deleteWebhook", data={"drop_pending_updates": "maybe"})
    assert resp.status_code == 400
