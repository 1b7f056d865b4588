"""The main flows, end to end in two browsers: what alice does, bob sees live."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    BROWSER,
    LiveServer,
    Web,
    cookie_client,
    make_user,
    sign_in_ui,
)
from tests.browser.ui import (
    composer_send,
    eventually,
    message,
    message_action,
    message_id_by_text,
    room_item,
)
from tests.harness import PASSWORD

pytestmark = [BROWSER, pytest.mark.timeout(90)]

THUMBS_UP = "\U0001f44d"


def count_of(n: int) -> re.Pattern[str]:
    """A badge showing the number ``n`` however it is decorated ("3", "@3", "3 new")."""
    return re.compile(rf"^\D*\b{n}\b\D*$")


async def _create_channel_via_ui(page: Page, name: str) -> str:
    await page.get_by_test_id("new-room").click()
    await page.locator("input[name=room-name]").fill(name)
    await page.locator("select[name=room-kind]").select_option("channel")
    await page.get_by_test_id("create-room-submit").click()
    await expect(page).to_have_url(re.compile(r"/r/\d+$"))
    await expect(page.get_by_test_id("room-title")).to_contain_text(name)
    return page.url.rsplit("/", 1)[1]


async def test_two_users_see_each_other_live(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    lobby = await api.room(alice, "lobby", "channel", bob)
    a = await web.page(alice, f"/r/{lobby}")
    b = await web.page(bob, f"/r/{lobby}")

    # A channel made in the UI, bob invited: it shows up in bob's list without a reload.
    room_id = await _create_channel_via_ui(a, "design")
    await a.get_by_test_id("members-button").click()
    await a.locator("input[name=invite-username]").fill("bob")
    await a.get_by_test_id("invite-submit").click()
    await expect(a.locator(f'[data-testid="member"][data-user-id="{bob.id}"]')).to_be_visible()
    await a.keyboard.press("Escape")
    await expect(room_item(b, room_id)).to_contain_text("design")

    # Bob is in the lobby: the new room counts unread messages, and mentions apart.
    await composer_send(a, "first words")
    bob_item = room_item(b, room_id)
    await expect(bob_item.get_by_test_id("unread-count")).to_have_text(count_of(1))
    await expect(bob_item.get_by_test_id("mention-count")).to_have_count(0)
    await composer_send(a, "@bob have a look")
    await expect(bob_item.get_by_test_id("unread-count")).to_have_text(count_of(2))
    await expect(bob_item.get_by_test_id("mention-count")).to_have_text(count_of(1))

    # Opening the room shows both and clears the badges.
    await bob_item.click()
    await expect(b).to_have_url(re.compile(rf"/r/{room_id}$"))
    await expect(b.get_by_test_id("message-body").filter(has_text="first words")).to_be_visible()
    await expect(bob_item.get_by_test_id("unread-count")).to_have_count(0)
    await expect(bob_item.get_by_test_id("mention-count")).to_have_count(0)

    # A new message, then its edit, arrive live.
    await composer_send(a, "shipping on friday")
    msg_id = await message_id_by_text(a, "shipping on friday")
    await expect(message(b, msg_id).get_by_test_id("message-body")).to_have_text(
        "shipping on friday"
    )
    await message_action(a, msg_id, "message-edit")
    await a.locator("[name=edit-text]").fill("shipping on monday")
    await a.get_by_test_id("edit-save").click()
    bobs_copy = message(b, msg_id)
    await expect(bobs_copy.get_by_test_id("message-body")).to_have_text("shipping on monday")
    await expect(bobs_copy.get_by_test_id("message-edited")).to_be_visible()

    # Reactions: alice's (through the API) shows live; bob adds his by clicking it.
    await api.ok("PUT", f"/api/v1/messages/{msg_id}/reactions/{quote(THUMBS_UP)}", alice)
    bobs_reaction = bobs_copy.locator(f'[data-testid="reaction"][data-emoji="{THUMBS_UP}"]')
    await expect(bobs_reaction).to_have_text(count_of(1))
    await bobs_reaction.click()
    alices_reaction = message(a, msg_id).locator(
        f'[data-testid="reaction"][data-emoji="{THUMBS_UP}"]'
    )
    await expect(alices_reaction).to_have_text(count_of(2))
    reactions = (await api.ok("GET", f"/api/v1/messages/{msg_id}", alice))["reactions"]
    assert {THUMBS_UP: sorted([alice.id, bob.id])} == {
        r["emoji"]: sorted(r["user_ids"]) for r in reactions
    }

    # A thread reply from bob: alice's root message counts it.
    await message_action(b, msg_id, "message-reply")
    panel = b.get_by_test_id("thread-panel")
    await expect(panel).to_be_visible()
    await panel.locator("textarea[name=thread-composer]").fill("monday works for me")
    await panel.get_by_test_id("thread-send").click()
    await expect(
        panel.get_by_test_id("thread-message").filter(has_text="monday works")
    ).to_be_visible()
    await expect(message(a, msg_id).get_by_test_id("thread-count")).to_have_text(count_of(1))
    replies = await api.ok("GET", f"/api/v1/messages/{msg_id}/thread", alice)
    assert [r["text"] for r in replies if r["id"] != msg_id] == ["monday works for me"]

    # Pinning shows on both sides.
    await message_action(a, msg_id, "message-pin")
    await expect(message(b, msg_id).get_by_test_id("pinned-marker")).to_be_visible()
    await expect(message(a, msg_id).get_by_test_id("pinned-marker")).to_be_visible()

    # A deleted message goes away for bob too.
    await composer_send(a, "oops, wrong room")
    doomed = await message_id_by_text(a, "oops, wrong room")
    await expect(message(b, doomed)).to_contain_text("oops, wrong room")
    await message_action(a, doomed, "message-delete")
    # Deleting asks first; cancelling changes nothing.
    await a.get_by_test_id("confirm-dialog").get_by_role("button", name="Cancel").click()
    await expect(a.get_by_test_id("confirm-dialog")).to_have_count(0)
    await expect(message(b, doomed)).to_contain_text("oops, wrong room")
    await message_action(a, doomed, "message-delete")
    await a.get_by_test_id("confirm-yes").click()
    await expect(b.get_by_text("oops, wrong room")).to_have_count(0)
    await expect(a.get_by_text("oops, wrong room")).to_have_count(0)


async def test_shared_link_survives_the_login(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    room = await api.room(alice, "history", "channel", bob)
    posted = [await api.post(alice, room, f"note number {i}") for i in range(80)]
    target = str(posted[3]["id"])  # far above the newest: the client must scroll to it

    page = await (await web.context()).new_page()
    link = f"/r/{room}/m/{target}"
    await page.goto(link)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    assert page.url.endswith("/login?next=" + quote(link, safe="")) or page.url.endswith(
        "/login?next=" + link
    ), page.url

    # A wrong password first: an error, and still on the login page.
    await page.locator("input[name=username]").fill("bob")
    await page.locator("input[name=password]").fill("not the password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/login"))

    await sign_in_ui(page, "bob", PASSWORD)
    await expect(page).to_have_url(re.compile(re.escape(link) + "$"))
    highlighted = message(page, target)
    await expect(highlighted).to_have_attribute("data-highlighted", "true")
    await expect(highlighted).to_be_in_viewport()
    await expect(highlighted).to_contain_text("note number 3")


async def test_login_ignores_foreign_next(web: Web, live: LiveServer) -> None:
    await make_user(live, "bob")
    page = await (await web.context()).new_page()
    await page.goto("/login?next=" + quote("//evil.test/phish", safe=""))
    await sign_in_ui(page, "bob")
    assert page.url.startswith(web.origin + "/"), page.url
    assert "evil.test" not in page.url


async def test_search_result_opens_the_message(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice")
    bob = await make_user(live, "bob")
    room = await api.room(alice, "reports", "channel", bob)
    for i in range(30):
        await api.post(alice, room, f"filler message {i}")
    wanted = await api.post(alice, room, "the quarterly zebra report is out")
    for i in range(30):
        await api.post(alice, room, f"more filler {i}")

    page = await web.page(bob, f"/r/{room}")
    search = page.locator("input[name=search]")
    await search.fill("zebra")
    await search.press("Enter")
    await expect(page).to_have_url(re.compile(r"/search\?q=zebra"))
    results = page.get_by_test_id("search-result")
    await expect(results).to_have_count(1)
    await expect(results).to_contain_text("quarterly zebra report")
    await results.click()
    await expect(page).to_have_url(re.compile(rf"/r/{room}/m/{wanted['id']}$"))
    await expect(message(page, str(wanted["id"]))).to_have_attribute("data-highlighted", "true")


async def test_logout_kills_the_session(web: Web, live: LiveServer) -> None:
    bob = await make_user(live, "bob")
    page = await web.page(bob, "/")
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    old_session = cookies["redoubt_session"]

    await page.get_by_test_id("logout").click()
    await expect(page).to_have_url(re.compile(r"/login"))
    resp = await page.context.request.get("/api/v1/auth/session")
    assert resp.status == 401, resp.status
    # The cookie the browser held is dead on the server, not just forgotten.
    async with cookie_client(web.origin, old_session) as replay:
        assert (await replay.get("/api/v1/auth/session")).status_code == 401
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login"))


async def test_admin_pages(web: Web, live: LiveServer) -> None:
    api = live.api
    alice = await make_user(live, "alice", admin=True)
    bob = await make_user(live, "bob")
    room = await api.room(bob, "old-project", "channel")
    page = await web.page(alice, "/admin/users")

    # Create a user.
    await page.locator("input[name=new-username]").fill("carol")
    await page.locator("input[name=new-display-name]").fill("Carol Danvers")
    await page.locator("input[name=new-password]").fill("a long enough password 42")
    await page.locator("select[name=new-role]").select_option("user")
    await page.get_by_test_id("admin-create-user").click()
    carol_row = page.locator('[data-testid="admin-user"][data-username="carol"]')
    await expect(carol_row).to_be_visible()
    login = {"username": "carol", "password": "a long enough password 42"}
    assert (await api.request("POST", "/api/v1/auth/login", json=login)).status_code == 200

    async def carol() -> dict[str, object]:
        users = await api.ok("GET", "/api/v1/admin/users", alice)
        return next(u for u in users if u["username"] == "carol")

    # Make her an admin, then deactivate her.
    await carol_row.locator("select[data-testid=admin-role]").select_option("admin")

    async def is_admin() -> bool:
        return (await carol())["role"] == "admin"

    await eventually(is_admin, "carol's role is admin on the server")
    await carol_row.get_by_test_id("admin-deactivate").click()
    await page.get_by_test_id("confirm-yes").click()

    async def is_inactive() -> bool:
        return (await carol())["is_active"] is False

    await eventually(is_inactive, "carol is deactivated on the server")
    assert (await api.request("POST", "/api/v1/auth/login", json=login)).status_code >= 400

    # Archive a channel alice is not even in.
    await page.goto("/admin/rooms")
    await (
        page.locator(f'[data-testid="admin-room"][data-room-id="{room}"]')
        .get_by_test_id("admin-archive")
        .click()
    )
    await page.get_by_test_id("confirm-yes").click()

    async def is_archived() -> bool:
        return bool((await api.ok("GET", f"/api/v1/rooms/{room}", bob))["archived"])

    await eventually(is_archived, "the room is archived on the server")

    # Everything above is in the audit log.
    await page.goto("/admin/audit")
    entries = page.get_by_test_id("audit-entry")
    for action in ("user.create", "user.set_role", "user.deactivate", "room.archive"):
        await expect(entries.filter(has_text=action).first).to_be_visible()


async def test_non_admin_gets_no_admin_page(web: Web, live: LiveServer) -> None:
    await make_user(live, "alice", admin=True)
    bob = await make_user(live, "bob")
    page = await web.page(bob, "/")
    for path in ("/admin", "/admin/users", "/admin/rooms", "/admin/audit"):
        await page.goto(path)
        await expect(page.get_by_test_id("me")).to_be_visible()
        await page.wait_for_timeout(300)  # time enough for a page that would load to load
        for test_id in (
            "admin-link",
            "admin-user",
            "admin-create-user",
            "admin-room",
            "audit-entry",
        ):
            await expect(page.get_by_test_id(test_id)).to_have_count(0)
