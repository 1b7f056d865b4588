"""Keyboard-only use, and an accessible name on every control of the main screen."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, make_user
from tests.harness import PASSWORD

pytestmark = [BROWSER, pytest.mark.timeout(90)]

MAX_TABS = 60

# What the focused element is, in terms a test can compare.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";
  const item = el.closest("[data-testid=room-item]");
  return [el.tagName.toLowerCase(), el.getAttribute("name") || "",
          el.dataset.testid || "", item ? item.dataset.roomId : ""].join("|");
}"""

_UNNAMED_CONTROLS = """() => {
  const rendered = (el) => el.getClientRects().length > 0 || (el.type === "file");
  const text = (el) => (el ? (el.textContent || "").trim() : "");
  const nameOf = (el) => {
    const label = el.getAttribute("aria-label");
    if (label && label.trim()) return label;
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const named = by.split(/\\s+/)
        .map((id) => text(document.getElementById(id))).join(" ").trim();
      if (named) return named;
    }
    if (el.labels && Array.from(el.labels).some((l) => text(l))) return "label";
    if (["submit", "button", "reset"].includes(el.type) && el.value) return el.value;
    if (el.tagName === "IMG" || el.querySelector?.("img[alt]:not([alt=''])")) return "alt";
    return text(el);
  };
  return Array.from(document.querySelectorAll("button, input, textarea, select, a"))
    .filter((el) => el.type !== "hidden" && rendered(el))
    .filter((el) => !nameOf(el))
    .map((el) => el.outerHTML.slice(0, 200));
}"""


async def _tab_to(page: Page, pattern: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``pattern`` (a regex
    over ``tag|name|testid|room-id``)."""
    wanted = re.compile(pattern)
    key = "Shift+Tab" if backwards else "Tab"
    trail = [await page.evaluate(_FOCUSED)]
    if wanted.search(trail[0]):
        return  # already there (autofocus)
    for _ in range(MAX_TABS):
        await page.keyboard.press(key)
        focused = await page.evaluate(_FOCUSED)
        trail.append(focused)
        if wanted.search(focused):
            return
    raise AssertionError(f"never reached {pattern!r} with {key}; focus went: {trail}")


async def test_keyboard_only(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    first = await api.room(alice, "first", "channel", bob)
    second = await api.room(alice, "second", "channel", bob)
    await api.post(alice, first, "welcome to first")

    page = await (await web.context()).new_page()
    await page.goto(f"/r/{first}")
    await expect(page).to_have_url(re.compile(r"/login"))

    # Log in: Tab to the fields, type, Enter.
    await _tab_to(page, r"^input\|username\|")
    await page.keyboard.type("bob")
    await _tab_to(page, r"^input\|password\|")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("me")).to_be_visible()
    await expect(page).to_have_url(re.compile(rf"/r/{first}$"))

    # Switch rooms: Tab into the room list, Enter on the second room.
    await _tab_to(page, rf"\|{second}$")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/r/{second}$"))
    await expect(page.get_by_test_id("room-title")).to_contain_text("second")

    # Send with Enter from the composer.
    await _tab_to(page, r"^textarea\|composer\|")
    await page.keyboard.type("sent without a mouse")
    await page.keyboard.press("Enter")
    await expect(
        page.get_by_test_id("message-body").filter(has_text="sent without a mouse")
    ).to_be_visible()
    messages = await api.ok("GET", f"/api/v1/rooms/{second}/messages", bob)
    assert [m["text"] for m in messages] == ["sent without a mouse"]

    # A dialog opens from the keyboard and Escape closes it.
    await _tab_to(page, r"\|new-room\|")
    await page.keyboard.press("Enter")
    room_name = page.locator("input[name=room-name]")
    await expect(room_name).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(room_name).to_be_hidden()


async def test_every_control_has_an_accessible_name(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice", admin=True)
    bob = await make_user(live, "bob")
    room = await api.room(alice, "general", "channel", bob)
    posted = await api.post(bob, room, "hello **everyone**")
    await api.post(alice, room, "a reply", thread_id=posted["id"])

    page = await web.page(alice, f"/r/{room}")
    await expect(page.get_by_test_id("message").first).to_be_visible()
    await page.get_by_test_id("message").first.hover()  # reveal hover-only actions
    unnamed = await page.evaluate(_UNNAMED_CONTROLS)
    assert not unnamed, "controls without an accessible name:\n  " + "\n  ".join(unnamed)

    await page.get_by_test_id("members-button").click()
    await expect(page.get_by_test_id("member").first).to_be_visible()
    unnamed = await page.evaluate(_UNNAMED_CONTROLS)
    assert not unnamed, "controls without an accessible name:\n  " + "\n  ".join(unnamed)
