"""The native API a bot framework speaks (token in a header, never in a URL): posting
with inline buttons, changing them, receiving clicks on the event stream and answering
them. The Telegram-compatible forms of the same are in test_botapi_markup.py.
"""

from __future__ import annotations

from typing import Any

from tests.harness import Bot, Server, User
from tests.test_botapi import setup

API = "/api/v1"
BUTTONS = [
    [{"text": "Yes", "callback_data": "opaque-yes"}, {"text": "No", "callback_data": "n"}],
    [{"text": "Docs", "url": "https://example.com/docs"}],
]


def as_user(bot: Bot) -> User:
    return User(bot.id, bot.username, bot.token, "bot")


async def post_buttons(server: Server, bot: Bot, room_id: str, buttons: Any = None) -> Any:
    return await server.ok(
        "POST",
        f"{API}/rooms/{room_id}/messages",
        as_user(bot),
        json={"text": "Deploy?", "buttons": BUTTONS if buttons is None else buttons},
    )


async def test_bot_posts_buttons_and_people_see_no_callback_data(server: Server) -> None:
    alice, bot, group, _dm = await setup(server)
    message = await post_buttons(server, bot, group)
    assert message["inline_keyboard"] == [
        [
            {"text": "Yes", "kind": "callback", "url": None},
            {"text": "No", "kind": "callback", "url": None},
        ],
        [{"text": "Docs", "kind": "url", "url": "https://example.com/docs"}],
    ]
    seen = await server.ok("GET", f"{API}/messages/{message['id']}", alice)
    assert "opaque-yes" not in str(seen)


async def test_people_cannot_attach_buttons(server: Server) -> None:
    """A person's message with buttons could pass for a bot's (phishing): refused, and
    nothing is posted."""
    alice, _bot, group, _dm = await setup(server)
    resp = await server.request(
        "POST", f"{API}/rooms/{group}/messages", alice, json={"text": "hi", "buttons": BUTTONS}
    )
    assert resp.status_code == 403, resp.text
    assert await server.ok("GET", f"{API}/rooms/{group}/messages", alice) == []


async def test_bad_buttons_are_refused_and_nothing_is_posted(server: Server) -> None:
    alice, bot, group, _dm = await setup(server)
    bad: list[Any] = [
        [[{"text": "x", "url": "javascript:alert(1)"}]],  # only http(s) links
        [[{"text": "x", "callback_data": "a", "url": "https://example.com"}]],  # both kinds
        [[{"text": "x"}]],  # neither
        [[{"text": "x", "callback_data": "é" * 33}]],  # 66 bytes > 64
        [[{"text": "x", "callback_data": "a", "extra": 1}]],  # unknown field
        [[{"text": "x", "callback_data": "a"}] * 13],  # too many in a row
    ]
    for buttons in bad:
        resp = await server.request(
            "POST",
            f"{API}/rooms/{group}/messages",
            as_user(bot),
            json={"text": "Deploy?", "buttons": buttons},
        )
        assert resp.status_code in (400, 422), (buttons, resp.text)
        assert "incident_id" in resp.text
    assert await server.ok("GET", f"{API}/rooms/{group}/messages", alice) == []


async def test_click_reaches_the_bot_stream_and_the_answer_reaches_the_clicker(
    server: Server,
) -> None:
    alice, bot, group, _dm = await setup(server)
    message = await post_buttons(server, bot, group)
    async with server.events(as_user(bot)) as bot_stream, server.events(alice) as alice_stream:
        clicked = await server.ok(
            "POST", f"{API}/messages/{message['id']}/buttons", alice, json={"row": 0, "column": 0}
        )
        frame = await bot_stream.until("bot.callback_query")
        assert frame["data"] == {
            "callback_id": clicked["callback_id"],
            "message_id": message["id"],
            "room_id": group,
            "user_id": alice.id,
            "data": "opaque-yes",
        }
        answer = f"{API}/callbacks/{clicked['callback_id']}/answer"
        await server.ok("POST", answer, as_user(bot), json={"text": "Deploying"})
        notice = await alice_stream.until("bot.callback_answer")
        assert notice["data"]["text"] == "Deploying"
        # Once per click, and only by the bot whose button it was.
        again = await server.request("POST", answer, as_user(bot), json={})
        assert again.status_code == 400
    # Clicks are the bot's business: alice's stream never carried the callback data.
    other = await server.create_bot(alice, "other_bot", group)
    second = await server.ok(
        "POST", f"{API}/messages/{message['id']}/buttons", alice, json={"row": 0, "column": 1}
    )
    resp = await server.request(
        "POST", f"{API}/callbacks/{second['callback_id']}/answer", as_user(other), json={}
    )
    assert resp.status_code == 400


async def test_bot_replaces_and_removes_its_buttons(server: Server) -> None:
    alice, bot, group, _dm = await setup(server)
    message = await post_buttons(server, bot, group)
    path = f"{API}/messages/{message['id']}/buttons"
    one = [[{"text": "Done", "callback_data": "done"}]]
    changed = await server.ok("PUT", path, as_user(bot), json={"buttons": one})
    assert changed["inline_keyboard"] == [[{"text": "Done", "kind": "callback", "url": None}]]
    assert changed["text"] == "Deploy?"
    # The old buttons are gone: clicking the second row is refused.
    resp = await server.request("POST", path, alice, json={"row": 1, "column": 0})
    assert resp.status_code == 400
    removed = await server.ok("PUT", path, as_user(bot), json={"buttons": []})
    assert removed["inline_keyboard"] is None


async def test_only_the_bot_that_sent_a_message_changes_its_buttons(server: Server) -> None:
    alice, bot, group, _dm = await setup(server)
    mine = await server.post(alice, group, "a person's message")
    one = {"buttons": [[{"text": "Go", "callback_data": "go"}]]}
    # A bot can't add buttons to someone else's message ...
    path = f"{API}/messages/{mine['id']}/buttons"
    resp = await server.request("PUT", path, as_user(bot), json=one)
    assert resp.status_code == 403
    # ... and a person can't add them to their own.
    resp = await server.request("PUT", path, alice, json=one)
    assert resp.status_code == 403
    message = await server.ok("GET", f"{API}/messages/{mine['id']}", alice)
    assert message["inline_keyboard"] is None
