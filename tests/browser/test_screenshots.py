"""Screenshots of the main screens for docs/screenshots/ (rewritten on every run).

The content is fixed (names, texts, order) so the pictures change only when the client
does; timestamps are the one thing that moves.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import BROWSER, ROOT, LiveServer, Web, make_user
from tests.browser.ui import message, message_action, next_frame
from tests.harness import User

pytestmark = [BROWSER, pytest.mark.timeout(90)]

SHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
# Times render in the browser's zone and locale: pin them.
STABLE = {"locale": "en-US", "timezone_id": "UTC", "color_scheme": "light"}

CONVERSATION = [
    ("alice", "Morning! The **release checklist** is in the pinned message."),
    ("bob", "Thanks. I ran the migration on staging: 42 s, no locks held."),
    ("carol", "Can someone review `redoubt/api/web.py`? It adds the CSP header."),
    ("alice", "On it. Also see the [threat model](https://example.com/threat-model)."),
    ("bob", "- backups verified\n- TLS renewed\n- search index rebuilt"),
    ("carol", "Ship it on Thursday then? @alice @bob"),
]


async def _seed(live: LiveServer) -> tuple[User, dict[str, str], str]:
    api = live.api
    alice = await make_user(live, "alice", admin=True)
    bob = await make_user(live, "bob")
    carol = await make_user(live, "carol")
    people = {"alice": alice, "bob": bob, "carol": carol}
    for user, name in ((alice, "Alice Archer"), (bob, "Bob Baker"), (carol, "Carol Chen")):
        await api.ok("PATCH", "/api/v1/users/me", user, json={"display_name": name})
    rooms = {
        "general": await api.room(alice, "general", "channel", bob, carol),
        "releases": await api.room(alice, "releases", "channel", bob, carol),
        "random": await api.room(bob, "random", "channel", alice),
    }
    await api.ok(
        "PATCH",
        f"/api/v1/rooms/{rooms['releases']}",
        alice,
        json={"topic": "Release planning and checklists"},
    )
    await api.post(bob, rooms["random"], "Lunch at noon?")
    ids = [
        (await api.post(people[who], rooms["releases"], text))["id"] for who, text in CONVERSATION
    ]
    await api.ok("PUT", f"/api/v1/messages/{ids[0]}/pin", alice)
    root = str(ids[-1])
    await api.post(bob, rooms["releases"], "Thursday works.", thread_id=root)
    await api.post(alice, rooms["releases"], "Thursday it is.", thread_id=root)
    return alice, rooms, root


async def _shoot(page: Page, name: str) -> None:
    # No hover or focus decorations in the picture.
    await page.mouse.move(0, 0)
    await page.evaluate("() => document.activeElement?.blur()")
    await next_frame(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", animations="disabled", caret="hide")


async def test_screenshots(web: Web, live: LiveServer) -> None:
    alice, rooms, root = await _seed(live)

    login = await (await web.context(**STABLE)).new_page()
    await login.goto("/login")
    await expect(login.get_by_test_id("login-submit")).to_be_visible()
    await _shoot(login, "login")

    page = await web.page(alice, f"/r/{rooms['releases']}", **STABLE)
    await expect(message(page, root)).to_be_visible()
    await message_action(page, root, "message-reply")
    await expect(
        page.get_by_test_id("thread-panel").get_by_test_id("thread-message")
    ).not_to_have_count(0)
    await _shoot(page, "room-with-thread")

    await page.goto("/search?q=thursday")
    await expect(page.get_by_test_id("search-result").first).to_be_visible()
    await _shoot(page, "search")

    await page.goto("/admin/users")
    await expect(page.get_by_test_id("admin-user")).to_have_count(3)
    await _shoot(page, "admin-users")

    phone = await web.page(
        alice, f"/r/{rooms['releases']}", viewport=PHONE, is_mobile=True, **STABLE
    )
    await expect(message(phone, root)).to_be_visible()
    await _shoot(phone, "phone-room")

    for name in ("login", "room-with-thread", "search", "admin-users", "phone-room"):
        assert (SHOTS / f"{name}.png").stat().st_size > 5_000, f"{name}.png looks empty"
