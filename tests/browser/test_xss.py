"""Stored XSS through every field a user controls, viewed by an admin (threat T12).

An attacker and a few accomplices put the payload corpus (``xss_payloads.py``) into
messages, thread replies, edits, room topics, display names and file names. The victim,
an admin, then reads all of it in the client: every message of a virtualised timeline, a
thread, the members list, search results, and the admin pages. Nothing may run, pop up
or load from another origin, and the DOM must hold nothing armed (handlers,
``javascript:`` links, foreign sources, frames, styles).

Room names cannot carry payloads: the server only accepts ``[a-z0-9_-]`` there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, make_user
from tests.browser.dom_audit import audit_dom
from tests.browser.ui import message_action, read_whole_timeline
from tests.browser.xss_payloads import PAYLOADS, Payload, fitting
from tests.harness import Server, User

pytestmark = [BROWSER, pytest.mark.timeout(240)]

_DISPLAY_NAME_MAX = 128
_TOPIC_MAX = 512
_FILE_NAME_MAX = 200
_SEARCH_MAX = 256
_NAME_ATTACKERS = 24
_LIVE_TOPICS = 16
_THREAD_REPLIES = 40
_FILES = 20
_LIVE_EDITS = 6
_COMBINED_CHUNK = 40


# Message id -> visible text of its body, for the messages rendered now.
_MESSAGE_TEXTS = """timeline => Object.fromEntries(
  Array.from(timeline.querySelectorAll('[data-testid="message"]')).map((m) => {
    const body = m.querySelector('[data-testid="message-body"]');
    return [m.dataset.messageId, body ? body.innerText.trim() : ""];
  }))"""


async def _gather_bounded(jobs: Iterable[Awaitable[object]], limit: int = 16) -> list[object]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[object]) -> object:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(job) for job in jobs)))


def _spread(payloads: Sequence[Payload], count: int) -> list[Payload]:
    """``count`` payloads taken evenly across the corpus (so every family is in)."""
    step = max(1, len(payloads) // count)
    return list(payloads[::step][:count])


class Audit:
    """Collects DOM findings across screens and scroll positions."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.findings: dict[str, str] = {}

    async def __call__(self) -> None:
        for problem in await audit_dom(self.page):
            self.findings.setdefault(problem, self.page.url)

    def assert_clean(self) -> None:
        if self.findings:
            shown = "\n  ".join(f"{p}  (at {url})" for p, url in list(self.findings.items())[:40])
            raise AssertionError(f"{len(self.findings)} armed payload(s) in the DOM:\n  {shown}")


async def _seed_name_attackers(api: Server, room_id: str) -> list[Payload]:
    """Users whose display names are payloads, each a member of the room with a message."""
    names = _spread(fitting(_DISPLAY_NAME_MAX), _NAME_ATTACKERS)
    for i, payload in enumerate(names):
        user = await api.create_user(f"name{i:02d}")
        await api.ok("PATCH", "/api/v1/users/me", user, json={"display_name": payload.text})
        await api.ok("POST", f"/api/v1/rooms/{room_id}/join", user)
        await api.post(user, room_id, f"hello from attacker {i}")
    return names


async def _seed_timeline(api: Server, attacker: User, room_id: str) -> set[str]:
    """Every payload as its own message, then in batches as one markdown document each."""
    posted = await _gather_bounded(api.post(attacker, room_id, p.text) for p in PAYLOADS)
    ids = {str(m["id"]) for m in posted if isinstance(m, dict)}
    for start in range(0, len(PAYLOADS), _COMBINED_CHUNK):
        chunk = "\n\n".join(p.text for p in PAYLOADS[start : start + _COMBINED_CHUNK])
        ids.add(str((await api.post(attacker, room_id, chunk))["id"]))
    return ids


async def _seed_thread_room(api: Server, attacker: User, room_id: str) -> tuple[str, list[str]]:
    """A thread of payload replies, and messages carrying files named with payloads."""
    root = await api.post(attacker, room_id, PAYLOADS[0].text + "\n\nthread root")
    for payload in _spread(PAYLOADS, _THREAD_REPLIES):
        await api.post(attacker, room_id, payload.text, thread_id=root["id"])
    file_names = [p.text for p in _spread(fitting(_FILE_NAME_MAX), _FILES)]
    uploaded = [
        await api.upload(attacker, room_id, name=name, data=b"harmless", content_type="text/html")
        for name in file_names
    ]
    for start in range(0, len(uploaded), 10):
        file_ids = [f["id"] for f in uploaded[start : start + 10]]
        await api.post(attacker, room_id, "files for you", file_ids=file_ids)
    edited = [await api.post(attacker, room_id, f"harmless text {i}") for i in range(_LIVE_EDITS)]
    return str(root["id"]), [str(m["id"]) for m in edited]


async def test_stored_payloads_never_run(web: Web, live: LiveServer) -> None:
    api = live.api
    victim = await make_user(live, "victim", admin=True)
    mallory = await make_user(live, "mallory")
    topics = fitting(_TOPIC_MAX)
    timeline_room = await api.room(mallory, "xss-timeline", "channel", victim)
    thread_room = await api.room(mallory, "xss-thread", "channel", victim)
    await api.ok("PATCH", f"/api/v1/rooms/{thread_room}", mallory, json={"topic": topics[1].text})

    names = await _seed_name_attackers(api, timeline_room)
    timeline_ids = await _seed_timeline(api, mallory, timeline_room)
    root_id, to_edit = await _seed_thread_room(api, mallory, thread_room)

    page = await web.page(victim, f"/r/{timeline_room}")
    audit = Audit(page)

    # Every message of the timeline renders once at some scroll position, as text: a
    # client that showed nothing would pass the rest of this test trivially.
    texts: dict[str, str] = {}

    async def audit_and_read() -> None:
        await audit()
        texts.update(await page.get_by_test_id("timeline").evaluate(_MESSAGE_TEXTS))

    seen = await read_whole_timeline(page, on_step=audit_and_read)
    missing = timeline_ids - seen
    assert not missing, f"{len(missing)} of {len(timeline_ids)} messages never rendered"
    blank = [i for i in timeline_ids if not texts.get(i)]
    assert len(blank) <= len(timeline_ids) // 20, f"{len(blank)} payload messages show no text"

    # Topics, changed live while the victim looks at the room.
    for i, payload in enumerate(_spread(topics, _LIVE_TOPICS)):
        marker = f" topic-{i}"
        text = payload.text[: _TOPIC_MAX - len(marker)] + marker
        await api.ok("PATCH", f"/api/v1/rooms/{timeline_room}", mallory, json={"topic": text})
        await expect(page.get_by_test_id("room-topic")).to_contain_text(marker.strip())
        await audit()

    # Members: the display names.
    await page.get_by_test_id("members-button").click()
    await expect(page.get_by_test_id("member")).to_have_count(len(names) + 2)
    await audit()

    # The second room: files, a thread, and messages edited into payloads live.
    await (
        page.get_by_test_id("room-list")
        .locator(f'[data-testid="room-item"][data-room-id="{thread_room}"]')
        .click()
    )
    await expect(page.get_by_test_id("attachment")).to_have_count(_FILES)
    for message_id, payload in zip(to_edit, _spread(PAYLOADS[1:], _LIVE_EDITS), strict=True):
        await api.ok(
            "PATCH", f"/api/v1/messages/{message_id}", mallory, json={"text": payload.text}
        )
    for i in range(_LIVE_EDITS):
        await expect(page.get_by_text(f"harmless text {i}", exact=True)).to_have_count(0)
    await read_whole_timeline(page, on_step=audit)
    await message_action(page, root_id, "message-reply")
    panel = page.get_by_test_id("thread-panel")
    # Every reply is there (the root may or may not be listed as one).
    await expect(panel.get_by_test_id("thread-message").nth(_THREAD_REPLIES - 1)).to_be_attached()
    await audit()

    # Search: payloads as queries (in the URL and typed), results rendering payloads.
    for payload in _spread(fitting(_SEARCH_MAX), 6):
        await page.goto(f"/search?q={quote(payload.text, safe='')}")
        await expect(page.locator("input[name=search]")).to_be_visible()
        await audit()
    search = page.locator("input[name=search]")
    await search.fill("alert")
    await search.press("Enter")
    await expect(page.get_by_test_id("search-result").first).to_be_visible()
    await audit()

    # Admin pages list the names, the rooms and the audit trail.
    await page.goto("/admin/users")
    await expect(page.get_by_test_id("admin-user")).to_have_count(len(names) + 2)
    await audit()
    await page.goto("/admin/rooms")
    await expect(
        page.locator(f'[data-testid="admin-room"][data-room-id="{thread_room}"]')
    ).to_be_visible()
    await audit()
    await page.goto("/admin/audit")
    await expect(page.get_by_test_id("audit-entry").first).to_be_visible()
    await audit()

    audit.assert_clean()
    # Nothing should have reached the CSP either: the sanitiser stops it all first.
    web.tripwire.assert_clean()
