"""Bots in the web client, end to end against a real server (issue 6).

- Admin → Bots: a bot's token is shown once (after creating or rotating it) and works;
  after the dialog closes it is nowhere on the page; rotating with no grace period kills
  the old token, revoking kills the new one, deleting removes the bot.
- A user opens a DM with a bot by its username and clicks the bot's inline keyboard
  button in the browser: the bot's ``getUpdates`` gets the ``callback_query`` (from that
  user, with the button's data), and the bot's ``answerCallbackQuery`` shows as a toast,
  or as an alert dialog with ``show_alert``.
- A reply keyboard is shown above the composer; a tap sends the label as a message the
  bot receives, and a one-time keyboard goes away; a force-reply focuses the composer.
- Typing ``/`` offers the commands the bot set with ``setMyCommands``, by keyboard.
- Hostile markup stays inert: button labels are text, and a ``javascript:``/``data:``
  button URL (refused by the server, so planted in the stored row) is no link.

The tripwire (the ``web`` fixture) watches every page: nothing may run, pop up, throw,
break the CSP or leave the origin.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from redoubt.storage import schema
from tests.browser.conftest import BROWSER, LiveServer, Web, make_user
from tests.browser.dom_audit import audit_dom
from tests.harness import Bot, User

pytestmark = [BROWSER, pytest.mark.timeout(120)]

API = "/api/v1"

_EVERYTHING_ON_THE_PAGE = """() => [
  document.body.innerText,
  ...Array.from(document.querySelectorAll("input, textarea"), (f) => f.value),
  JSON.stringify(Object.assign({}, localStorage)),
  JSON.stringify(Object.assign({}, sessionStorage)),
  location.href,
].join("\\n")"""


async def bot_call(live: LiveServer, token: str, method: str, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.origin, timeout=30) as http:
        return await http.post(f"/bot{token}/{method}", json=body)


async def bot_result(live: LiveServer, bot: Bot, method: str, **body: Any) -> Any:
    resp = await bot_call(live, bot.token, method, **body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["ok"] is True, answer
    return answer["result"]


class Updates:
    """A bot's getUpdates, confirming what it has read (as a polling bot does)."""

    def __init__(self, live: LiveServer, bot: Bot) -> None:
        self.live, self.bot, self.offset = live, bot, 0

    async def drain(self) -> None:
        while await self._poll(0):
            pass

    async def _poll(self, timeout: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await bot_result(
            self.live, self.bot, "getUpdates", offset=self.offset, timeout=timeout
        )
        if found:
            self.offset = found[-1]["update_id"] + 1
        return found

    async def next(self, kind: str) -> dict[str, Any]:
        """The next update carrying ``kind`` (``message``, ``callback_query``)."""
        for _ in range(10):
            for found in await self._poll(3):
                if kind in found:
                    return dict(found[kind])
        raise AssertionError(f"the bot got no {kind}")


async def _open_dm_in_ui(page: Page, bot: Bot) -> str:
    """Start a DM with the bot the way a user does: by its username."""
    await page.get_by_test_id("new-dm").click()
    await page.locator("input[name=dm-usernames]").fill(bot.username)
    await page.get_by_test_id("create-dm-submit").click()
    await expect(page).to_have_url(re.compile(r"/r/[0-9]+$"))
    room_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("textarea[name=composer]")).to_be_enabled()
    return room_id


async def _user_and_bot(web: Web, live: LiveServer) -> tuple[User, Bot, Page, Updates]:
    alice = await live.api.create_user("alice")
    bot = await live.api.create_bot(alice, "helper_bot")
    page = await web.page(alice, "/")
    await _open_dm_in_ui(page, bot)
    updates = Updates(live, bot)
    await updates.drain()
    return alice, bot, page, updates


def _bot_message(page: Page, text: str) -> Any:
    return page.get_by_test_id("timeline").get_by_test_id("message").filter(has_text=text)


# --- admin ------------------------------------------------------------------------------


async def test_admin_creates_a_bot_and_its_token_is_shown_once(web: Web, live: LiveServer) -> None:
    admin = await make_user(live, "root", admin=True)
    alice = await live.api.create_user("alice")
    team = await live.api.room(alice, "team")
    page = await web.page(admin, "/admin/bots")
    await expect(page.get_by_test_id("bots-empty")).to_be_visible()

    await page.get_by_test_id("bot-new").click()
    dialog = page.get_by_test_id("bot-create-dialog")
    await dialog.locator("input[name=bot-username]").fill("Helper_Bot")
    await dialog.locator("textarea[name=bot-description]").fill("Answers <b>questions</b>")
    # The form's own check: an owner is required.
    await dialog.get_by_test_id("bot-create-submit").click()
    await expect(dialog.get_by_test_id("bot-form-error")).to_contain_text("owner")
    await dialog.locator("select[name=bot-owner]").select_option(alice.id)
    await dialog.locator(f'input[name=bot-room][value="{team}"]').check()
    await dialog.get_by_test_id("bot-create-submit").click()

    shown = page.get_by_test_id("secret-dialog")
    await expect(shown).to_be_visible()
    await expect(dialog).to_have_count(0)
    token = await shown.get_by_test_id("secret-value").input_value()
    match = re.fullmatch(r"([0-9]+):[A-Za-z0-9_-]{43}", token)
    assert match, "not a bot token"
    bot_id = match.group(1)
    me = await bot_call(live, token, "getMe")
    assert me.status_code == 200, "the token shown doesn't work"
    assert me.json()["result"]["username"] == "helper_bot"

    await shown.get_by_test_id("secret-done").click()
    await expect(shown).to_have_count(0)
    assert token not in await page.evaluate(_EVERYTHING_ON_THE_PAGE)
    row = page.locator(f'[data-testid="bot-row"][data-bot-id="{bot_id}"]')
    await expect(row.get_by_test_id("bot-owner")).to_have_text("alice")
    await expect(row.get_by_test_id("bot-room-list")).to_have_text("team")
    await expect(row.get_by_test_id("bot-token-hint")).to_have_text(re.compile(rf"^{bot_id}:"))
    await expect(row).to_contain_text("Answers <b>questions</b>")
    await page.reload()
    await expect(row).to_be_visible()
    assert token not in await page.evaluate(_EVERYTHING_ON_THE_PAGE)

    # Quarantine (planted: the activity rules are tested elsewhere): the reason shows, as
    # text, and an admin releases it.
    async with live.api.container.database.transaction("test") as txn:
        await txn.conn.execute(
            update(schema.bots)
            .where(schema.bots.c.user_id == int(bot_id))
            .values(
                quarantined_at=dt.datetime.now(dt.UTC), quarantine_reason="flood: <b>90</b>/min"
            )
        )
    await page.reload()
    await expect(row.get_by_test_id("bot-quarantined")).to_be_visible()
    await expect(row.get_by_test_id("bot-quarantine-reason")).to_have_text("flood: <b>90</b>/min")
    await row.get_by_test_id("bot-release").click()
    await page.get_by_test_id("confirm-yes").click()
    await expect(page.get_by_test_id("bots-notice")).to_contain_text("released")
    await expect(row.get_by_test_id("bot-quarantined")).to_have_count(0)
    await expect(row.get_by_test_id("bot-release")).to_have_count(0)

    # Rotate with no grace period: a new token, shown once; the old one stops.
    await row.get_by_test_id("bot-rotate").click()
    rotate = page.get_by_test_id("bot-rotate-dialog")
    await rotate.locator("input[name=bot-grace]").fill("-1")
    await rotate.get_by_test_id("bot-rotate-submit").click()
    await expect(rotate.get_by_test_id("bot-rotate-error")).to_be_visible()
    await rotate.locator("input[name=bot-grace]").fill("0")
    await rotate.get_by_test_id("bot-rotate-submit").click()
    await expect(shown).to_be_visible()
    new_token = await shown.get_by_test_id("secret-value").input_value()
    assert new_token != token
    assert new_token.startswith(f"{bot_id}:")
    await shown.get_by_test_id("secret-done").click()
    assert (await bot_call(live, token, "getMe")).status_code == 401
    assert (await bot_call(live, new_token, "getMe")).status_code == 200
    assert new_token not in await page.evaluate(_EVERYTHING_ON_THE_PAGE)

    # Revoke: every token stops.
    await row.get_by_test_id("bot-revoke").click()
    await page.get_by_test_id("confirm-yes").click()
    await expect(page.get_by_test_id("bots-notice")).to_contain_text("revoked")
    assert (await bot_call(live, new_token, "getMe")).status_code == 401
    await expect(row.get_by_test_id("bot-token-hint")).to_have_text("none")

    # Rooms: none allowed any more.
    await row.get_by_test_id("bot-rooms").click()
    rooms = page.get_by_test_id("bot-rooms-dialog")
    await rooms.locator(f'input[name=bot-room][value="{team}"]').uncheck()
    await rooms.get_by_test_id("bot-rooms-save").click()
    await expect(rooms).to_have_count(0)
    await expect(row.get_by_test_id("bot-room-list")).to_have_text("None")

    await row.get_by_test_id("bot-delete").click()
    await page.get_by_test_id("confirm-yes").click()
    await expect(row).to_have_count(0)
    assert await audit_dom(page) == []


# --- inline keyboards --------------------------------------------------------------------


async def test_inline_button_click_reaches_the_bot_and_its_answer_shows(
    web: Web, live: LiveServer
) -> None:
    alice, bot, page, updates = await _user_and_bot(web, live)
    markup = {
        "inline_keyboard": [
            [
                {"text": "Yes", "callback_data": "answer:yes"},
                {"text": "No", "callback_data": "answer:no"},
            ],
            [{"text": "Docs", "url": "https://example.org/docs"}],
        ]
    }
    await bot_result(
        live, bot, "sendMessage", chat_id=int(alice.id), text="Pick one", reply_markup=markup
    )
    msg = _bot_message(page, "Pick one")
    keyboard = msg.get_by_test_id("inline-keyboard")
    await expect(keyboard.get_by_test_id("inline-button")).to_have_text(["Yes", "No"])
    link = keyboard.get_by_test_id("inline-button-link")
    await expect(link).to_have_attribute("href", "https://example.org/docs")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("target", "_blank")
    # Callback data never reaches the page.
    assert "answer:no" not in await page.content()

    await keyboard.get_by_test_id("inline-button").filter(has_text="No").click()
    query = await updates.next("callback_query")
    assert query["data"] == "answer:no"
    assert query["from"]["id"] == int(alice.id)
    assert query["message"]["text"] == "Pick one"
    assert await bot_result(
        live, bot, "answerCallbackQuery", callback_query_id=query["id"], text="<b>Noted</b>"
    )
    toast = page.get_by_test_id("bot-toast")
    await expect(toast).to_contain_text("<b>Noted</b>")
    await expect(toast.locator("b")).to_have_count(0)

    await keyboard.get_by_test_id("inline-button").filter(has_text="Yes").click()
    query = await updates.next("callback_query")
    assert query["data"] == "answer:yes"
    assert await bot_result(
        live,
        bot,
        "answerCallbackQuery",
        callback_query_id=query["id"],
        text="Are you sure?",
        show_alert=True,
    )
    alert = page.get_by_test_id("bot-alert")
    await expect(alert).to_be_visible()
    await expect(alert.get_by_test_id("bot-alert-text")).to_have_text("Are you sure?")
    await alert.get_by_test_id("bot-alert-ok").click()
    await expect(alert).to_have_count(0)


async def test_hostile_buttons_render_inert(web: Web, live: LiveServer) -> None:
    alice, bot, page, updates = await _user_and_bot(web, live)
    # The server refuses script and data links outright...
    for url in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>"):
        refused = await bot_call(
            live,
            bot.token,
            "sendMessage",
            chat_id=int(alice.id),
            text="nope",
            reply_markup={"inline_keyboard": [[{"text": "x", "url": url}]]},
        )
        assert refused.status_code == 400, refused.text
    # ...and markup in a label is just a label.
    hostile_label = "<img src=x onerror=alert(1)>"
    sent = await bot_result(
        live,
        bot,
        "sendMessage",
        chat_id=int(alice.id),
        text="Hostile",
        reply_markup={
            "inline_keyboard": [
                [{"text": hostile_label, "callback_data": "h"}],
                [{"text": "fine", "url": "https://example.org/"}],
            ]
        },
    )
    # Plant what the server refused into the stored row: the client holds on its own.
    stored = [
        [{"text": hostile_label, "callback_data": "h"}],
        [
            {"text": "<svg onload=alert(2)>", "url": "javascript:alert(2)"},
            {"text": "data", "url": "data:text/html,<script>alert(3)</script>"},
            {"text": "tab", "url": "java\tscript:alert(4)"},
        ],
    ]
    async with live.api.container.database.transaction("test") as txn:
        await txn.conn.execute(
            update(schema.messages)
            .where(schema.messages.c.id == int(sent["message_id"]))
            .values(inline_keyboard=json.dumps(stored))
        )
    view = await live.api.ok("GET", f"{API}/messages/{sent['message_id']}", alice)
    assert view["inline_keyboard"][1][0]["url"] == "javascript:alert(2)", "the plant failed"

    await page.reload()
    msg = _bot_message(page, "Hostile")
    keyboard = msg.get_by_test_id("inline-keyboard")
    await expect(keyboard.get_by_test_id("inline-button")).to_have_text(hostile_label)
    inert = keyboard.get_by_test_id("inline-button-inert")
    await expect(inert).to_have_count(3)
    for i in range(3):
        await expect(inert.nth(i)).to_be_disabled()
    await expect(inert.first).to_have_text("<svg onload=alert(2)>")
    await expect(keyboard.locator("a")).to_have_count(0)
    await expect(keyboard.locator("img, svg, script")).to_have_count(0)
    await inert.first.click(force=True)  # a disabled button: nothing happens

    # The hostile-labelled callback button still works, as a button.
    await keyboard.get_by_test_id("inline-button").click()
    query = await updates.next("callback_query")
    assert query["data"] == "h"
    assert await audit_dom(page) == []
    assert await page.evaluate("() => window.__xss.length") == 0


# --- the composer -------------------------------------------------------------------------


async def test_reply_keyboard_tap_sends_the_label(web: Web, live: LiveServer) -> None:
    alice, bot, page, updates = await _user_and_bot(web, live)
    composer = page.locator("textarea[name=composer]")
    await bot_result(
        live,
        bot,
        "sendMessage",
        chat_id=int(alice.id),
        text="Favourite colour?",
        reply_markup={
            "keyboard": [["Red", "Blue"], [{"text": "<b>Green</b>"}]],
            "one_time_keyboard": True,
            "input_field_placeholder": "Pick a colour",
        },
    )
    bar = page.get_by_test_id("reply-keyboard")
    await expect(bar.get_by_test_id("reply-button")).to_have_text(["Red", "Blue", "<b>Green</b>"])
    await expect(composer).to_have_attribute("placeholder", "Pick a colour")
    await bar.get_by_test_id("reply-button").filter(has_text="Blue").click()
    message = await updates.next("message")
    assert message["text"] == "Blue"
    assert message["from"]["id"] == int(alice.id)
    # One-time: gone once used.
    await expect(bar).to_have_count(0)
    await expect(composer).not_to_have_attribute("placeholder", "Pick a colour")

    # A force-reply puts the cursor in the composer.
    await page.get_by_test_id("settings-link").focus()
    await bot_result(
        live,
        bot,
        "sendMessage",
        chat_id=int(alice.id),
        text="Your name?",
        reply_markup={"force_reply": True, "input_field_placeholder": "Name"},
    )
    await expect(page.get_by_test_id("force-reply")).to_be_visible()
    await expect(composer).to_be_focused()
    await expect(composer).to_have_attribute("placeholder", "Name")
    await page.keyboard.type("Ann")
    await page.keyboard.press("Enter")
    assert (await updates.next("message"))["text"] == "Ann"
    await expect(page.get_by_test_id("force-reply")).to_have_count(0)


async def test_slash_completes_the_bots_commands(web: Web, live: LiveServer) -> None:
    _alice, bot, page, updates = await _user_and_bot(web, live)
    commands = [
        {"command": "start", "description": "Start over"},
        {"command": "settings", "description": "<i>Preferences</i>"},
        {"command": "help", "description": "How to use me"},
    ]
    assert await bot_result(live, bot, "setMyCommands", commands=commands) is True
    composer = page.locator("textarea[name=composer]")
    await composer.click()
    await page.keyboard.type("/")
    listbox = page.get_by_role("listbox", name="Bot commands")
    await expect(listbox.get_by_role("option")).to_have_count(3)
    await expect(listbox).to_contain_text("<i>Preferences</i>")
    await page.keyboard.type("s")
    options = listbox.get_by_role("option")
    await expect(options).to_have_count(2)  # settings, start
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    selected_id = await options.nth(1).get_attribute("id")
    await expect(composer).to_have_attribute("aria-activedescendant", selected_id or "")
    await page.keyboard.press("Enter")
    await expect(composer).to_have_value("/start ")
    await expect(listbox).to_have_count(0)
    await page.keyboard.press("Enter")
    message = await updates.next("message")
    assert message["text"].strip() == "/start"
    assert message["entities"][0]["type"] == "bot_command"

    # Escape closes the list without leaving the room.
    await expect(composer).to_have_value("")
    await page.keyboard.type("/he")
    await expect(listbox.get_by_role("option")).to_have_count(1)
    await page.keyboard.press("Escape")
    await expect(listbox).to_have_count(0)
    await expect(composer).to_have_value("/he")


async def test_a_bot_joins_only_the_rooms_an_admin_allowed(web: Web, live: LiveServer) -> None:
    """Adding a bot to a room goes through the members panel like anyone else; the
    server refuses the rooms it isn't allowed in, and the page says so."""
    alice = await live.api.create_user("alice")
    team = await live.api.room(alice, "team")
    other = await live.api.room(alice, "other")
    bot = await live.api.create_bot(alice, "helper_bot", team)

    page = await web.page(alice, f"/r/{team}")
    await page.get_by_test_id("members-button").click()
    panel = page.get_by_test_id("members-panel")
    await panel.locator("input[name=invite-username]").fill(bot.username)
    await panel.get_by_test_id("invite-submit").click()
    await expect(panel.locator(f'[data-testid="member"][data-user-id="{bot.id}"]')).to_be_visible()

    await page.goto(f"/r/{other}")
    await page.get_by_test_id("members-button").click()
    await panel.locator("input[name=invite-username]").fill(bot.username)
    await panel.get_by_test_id("invite-submit").click()
    await expect(panel.get_by_role("alert")).to_contain_text("rooms an admin allowed")
    await expect(panel.locator(f'[data-testid="member"][data-user-id="{bot.id}"]')).to_have_count(0)
