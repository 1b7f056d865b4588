"""Users' own bots in the web client, end to end against a real server (issue 6).

An admin turns on "Users may create their own bots" in Admin → Bots; a user then finds
"My bots" in their settings, creates a bot in a room they own, and sees its token once:
it works on the Bot API, and once the dialog closes it is nowhere on the page.

The tripwire (the ``web`` fixture) watches every page: nothing may run, pop up, throw,
break the CSP or leave the origin.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import BROWSER, LiveServer, Web, make_user

pytestmark = [BROWSER, pytest.mark.timeout(120)]

_EVERYTHING_ON_THE_PAGE = """() => [
  document.body.innerText,
  ...Array.from(document.querySelectorAll("input, textarea"), (f) => f.value),
  JSON.stringify(Object.assign({}, localStorage)),
  JSON.stringify(Object.assign({}, sessionStorage)),
  location.href,
].join("\\n")"""


async def test_admin_allows_and_a_user_creates_a_bot_seeing_its_token_once(
    web: Web, live: LiveServer
) -> None:
    admin = await make_user(live, "root", admin=True)
    alice = await live.api.create_user("alice")
    team = await live.api.room(alice, "team")

    # Off by default: no "My bots" for alice.
    page = await web.page(alice, "/settings")
    await expect(page.get_by_test_id("tokens-section")).to_be_visible()
    await expect(page.get_by_test_id("mybots-section")).to_have_count(0)

    admin_page = await web.page(admin, "/admin/bots")
    setting = admin_page.get_by_test_id("user-bots-setting")
    toggle = setting.get_by_test_id("users-may-create-bots")
    await expect(toggle).to_be_enabled()
    await expect(toggle).not_to_be_checked()
    await toggle.check()
    await setting.locator("input[name=max-bots-per-user]").fill("2")
    await setting.get_by_test_id("user-bots-save").click()
    await expect(setting.get_by_test_id("user-bots-notice")).to_contain_text("up to 2")

    await page.reload()
    section = page.get_by_test_id("mybots-section")
    await expect(section).to_be_visible()
    await expect(section.get_by_test_id("mybots-empty")).to_be_visible()
    await section.get_by_test_id("mybot-new").click()
    dialog = page.get_by_test_id("bot-create-dialog")
    await dialog.locator("input[name=bot-username]").fill("alices_bot")
    await expect(dialog.locator("select[name=bot-owner]")).to_have_count(0)
    await dialog.locator(f'input[name=bot-room][value="{team}"]').check()
    await dialog.get_by_test_id("bot-create-submit").click()

    shown = page.get_by_test_id("secret-dialog")
    await expect(shown).to_be_visible()
    token = await shown.get_by_test_id("secret-value").input_value()
    match = re.fullmatch(r"([0-9]+):[A-Za-z0-9_-]{43}", token)
    assert match, "not a bot token"
    bot_id = match.group(1)
    async with httpx.AsyncClient(base_url=live.origin, timeout=30) as http:
        me = await http.post(f"/bot{token}/getMe")
    assert me.status_code == 200, "the token shown doesn't work"
    assert me.json()["result"]["username"] == "alices_bot"

    await shown.get_by_test_id("secret-done").click()
    await expect(shown).to_have_count(0)
    row = section.locator(f'[data-testid="mybot-row"][data-bot-id="{bot_id}"]')
    await expect(row.get_by_test_id("mybot-room-list")).to_have_text("team")
    await expect(row.get_by_test_id("mybot-token-hint")).to_have_text(re.compile(rf"^{bot_id}:"))
    assert token not in await page.evaluate(_EVERYTHING_ON_THE_PAGE)
    await page.reload()
    await expect(row).to_be_visible()
    assert token not in await page.evaluate(_EVERYTHING_ON_THE_PAGE)

    # The admin sees it, owned by alice.
    await admin_page.reload()
    admin_row = admin_page.locator(f'[data-testid="bot-row"][data-bot-id="{bot_id}"]')
    await expect(admin_row.get_by_test_id("bot-owner")).to_have_text("alice")
