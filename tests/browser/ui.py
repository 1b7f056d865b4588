"""Small page helpers shared by the browser tests, named for what a user does."""

from __future__ import annotations

__all__ = [
    "composer_send",
    "connection",
    "eventually",
    "message",
    "message_action",
    "message_id_by_text",
    "next_frame",
    "read_whole_timeline",
    "room_item",
    "timeline_texts",
]

import asyncio
import re
from collections.abc import Awaitable, Callable

from playwright.async_api import Locator, Page, expect

_MAX_SCROLL_STEPS = 400


def message(page: Page, message_id: str) -> Locator:
    return page.locator(f'[data-testid="message"][data-message-id="{message_id}"]')


def room_item(page: Page, room_id: str) -> Locator:
    return page.locator(f'[data-testid="room-item"][data-room-id="{room_id}"]')


def connection(page: Page) -> Locator:
    return page.get_by_test_id("connection")


async def next_frame(page: Page) -> None:
    """Let the page render (two animation frames: layout, then paint)."""
    await page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )


async def message_action(page: Page, message_id: str, action: str) -> None:
    """Hover a message (actions may only show on hover) and click one of its actions."""
    target = message(page, message_id)
    await target.scroll_into_view_if_needed()
    await target.hover()
    await target.get_by_test_id(action).click()


async def composer_send(page: Page, text: str) -> None:
    """Type into the room composer and press Enter (which sends)."""
    composer = page.locator("textarea[name=composer]")
    await composer.fill(text)
    await composer.press("Enter")
    await expect(composer).to_have_value("")


async def timeline_texts(page: Page) -> list[str]:
    """The bodies of the messages the timeline renders now, top to bottom."""
    bodies = page.get_by_test_id("timeline").get_by_test_id("message-body")
    return [text.strip() for text in await bodies.all_inner_texts()]


async def read_whole_timeline(
    page: Page, on_step: Callable[[], Awaitable[None]] | None = None
) -> set[str]:
    """Scroll the (virtualised) timeline from the newest message up to the room's first,
    loading older history on the way; returns the id of every message that rendered.
    ``on_step`` runs at each scroll position (say, a DOM audit of what is rendered)."""
    timeline = page.get_by_test_id("timeline")
    messages = timeline.locator('[data-testid="message"]')
    await expect(messages.first).to_be_visible()
    seen: set[str] = set()
    for _ in range(_MAX_SCROLL_STEPS):
        await next_frame(page)
        ids = await messages.evaluate_all("els => els.map(e => e.dataset.messageId)")
        seen.update(i for i in ids if i)
        if on_step is not None:
            await on_step()
        at_start = await page.get_by_test_id("history-start").count() > 0
        top = await timeline.evaluate(
            "el => { el.scrollTop = Math.max(0, el.scrollTop - el.clientHeight * 0.7);"
            " return el.scrollTop; }"
        )
        if top == 0 and at_start:
            await next_frame(page)
            ids = await messages.evaluate_all("els => els.map(e => e.dataset.messageId)")
            seen.update(i for i in ids if i)
            if on_step is not None:
                await on_step()
            return seen
        if top == 0:
            # At the top with more history on the server: the client loads the older
            # page on its own (``load-older`` is a status); give it a moment.
            await page.wait_for_timeout(100)
    raise AssertionError(
        f"the timeline never reached the room's first message ({len(seen)} messages seen)"
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 7.0) -> None:
    """Poll ``check`` until it holds (for state the UI changes on the server)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.05)


async def message_id_by_text(page: Page, text: str) -> str:
    """The id of the timeline message whose body is exactly ``text``."""
    exactly = re.compile(rf"^\s*{re.escape(text)}\s*$")
    body = page.get_by_test_id("message-body").filter(has_text=exactly)
    found = page.get_by_test_id("timeline").get_by_test_id("message").filter(has=body)
    await expect(found).to_have_count(1)
    message_id = await found.get_attribute("data-message-id")
    assert message_id, f"message {text!r} has no data-message-id"
    return message_id
