"""The client rides out a server restart and a network drop: it shows it is offline,
comes back by itself, and ends up with every message exactly once, in order."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, make_user
from tests.browser.ui import composer_send, connection, timeline_texts
from tests.harness import User

pytestmark = [BROWSER, pytest.mark.timeout(90)]

# The client retries with backoff; allow for a few rounds of it.
RECONNECT_TIMEOUT_MS = 20_000


async def _texts_with_prefix(page: Page, prefix: str) -> list[str]:
    return [t for t in await timeline_texts(page) if t.startswith(prefix)]


async def _expect_exactly(page: Page, prefix: str, expected: list[str]) -> None:
    """Wait for the last expected message, then compare the whole sequence."""
    bodies = page.get_by_test_id("timeline").get_by_test_id("message-body")
    try:
        await expect(bodies.filter(has_text=expected[-1])).to_have_count(
            1, timeout=RECONNECT_TIMEOUT_MS
        )
    except AssertionError as exc:
        state = await connection(page).get_attribute("data-state")
        bodies_shown = await timeline_texts(page)
        screen = (await page.locator("main").first.inner_text())[:400]
        raise AssertionError(
            f"connection {state}; messages shown {bodies_shown}; the screen says {screen!r}"
        ) from exc
    assert await _texts_with_prefix(page, prefix) == expected


async def _open_room(web: Web, live: LiveServer) -> tuple[Page, User, str]:
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    room = await live.api.room(alice, "ops", "channel", bob)
    await live.api.post(alice, room, "before anything happened")
    page = await web.page(bob, f"/r/{room}")
    await expect(connection(page)).to_have_attribute("data-state", "live")
    return page, alice, room


async def test_reconnects_after_a_server_restart(web: Web, live: LiveServer) -> None:
    page, alice, room = await _open_room(web, live)

    await live.stop()
    await expect(connection(page)).to_have_attribute("data-state", "offline")
    # Written while the client is still away (it retries with a delay).
    await live.start()
    missed = [f"restart {i}" for i in range(5)]
    for text in missed:
        await live.api.post(alice, room, text)
    await expect(connection(page)).to_have_attribute(
        "data-state", "live", timeout=RECONNECT_TIMEOUT_MS
    )
    after = [f"restart {i}" for i in range(5, 8)]
    for text in after:
        await live.api.post(alice, room, text)
    await _expect_exactly(page, "restart ", missed + after)

    # And the session survived: bob can still post.
    await composer_send(page, "still here after the restart")
    await expect(page.get_by_text("still here after the restart")).to_have_count(1)


async def test_reconnects_after_a_network_drop(web: Web, live: LiveServer) -> None:
    page, alice, room = await _open_room(web, live)

    await page.context.set_offline(True)
    await expect(connection(page)).to_have_attribute(
        "data-state", "offline", timeout=RECONNECT_TIMEOUT_MS
    )
    missed = [f"dropped {i}" for i in range(6)]
    for text in missed:
        await live.api.post(alice, room, text)
    await page.context.set_offline(False)
    await expect(connection(page)).to_have_attribute(
        "data-state", "live", timeout=RECONNECT_TIMEOUT_MS
    )
    after = [f"dropped {i}" for i in range(6, 9)]
    for text in after:
        await live.api.post(alice, room, text)
    await _expect_exactly(page, "dropped ", missed + after)
