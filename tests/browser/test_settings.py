"""The account page, end to end: signed-in devices and signing them out, changing the
password, the admin's "sign out everywhere", the display name.

Every sign-out is proven on the server too: the signed-out browser's own cookie is
presented again with a plain HTTP client and refused. The tripwire (the ``web`` fixture)
watches every page, so a user agent or display name carrying markup that ran would fail
the test at teardown.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, cookie_client, make_user
from tests.browser.dom_audit import audit_dom
from tests.browser.ui import connection
from tests.harness import PASSWORD, User

pytestmark = [BROWSER, pytest.mark.timeout(90)]

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"
)
# Valid for the policy: long, not a common password, not the username.
NEW_PASSWORD = "plum orchard under winter stars"
# Long enough for the client's check, refused by the server's (a common password).
COMMON_PASSWORD = "1234567890"
CLOSE_UNAUTHORIZED = 4401

# Records how every WebSocket of the page closed (installed before the client loads), so
# a test can tell "the server ended the stream with 4401" from a network drop.
_RECORD_WS_CLOSES = """(() => {
  const codes = [];
  Object.defineProperty(window, "__wsCloseCodes", { value: codes });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (e) => codes.push(e.code));
    }
  };
})()"""


async def _user(live: LiveServer, username: str) -> User:
    """An account with no session yet (no API login): the sessions on screen are then
    exactly the browsers the test opened."""
    return await live.api.create_user(username, login=False)


async def _browser(web: Web, user: User, path: str, **options: object) -> Page:
    """A signed-in page whose WebSocket closes are recorded, with its stream live."""
    context = await web.context(**options)
    await context.add_init_script(_RECORD_WS_CLOSES)
    await web.sign_in_api(context, user)
    page = await context.new_page()
    await page.goto(path)
    await expect(page.get_by_test_id("me")).to_be_visible()
    await expect(connection(page)).to_have_attribute("data-state", "live")
    return page


async def _session_cookie(context: BrowserContext) -> str:
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    return cookies["redoubt_session"]


async def _cookie_status(web: Web, cookie: str) -> int:
    async with cookie_client(web.origin, cookie) as http:
        return (await http.get("/api/v1/auth/session")).status_code


async def _login_status(web: Web, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=web.origin, timeout=10) as http:
        resp = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        return resp.status_code


async def _expect_signed_out_by_server(page: Page) -> None:
    """The page's stream was closed with 4401 and the client went to the login page,
    saying why, without trying to reconnect."""
    await expect(page).to_have_url(re.compile(r"/login(\?|$)"))
    await expect(page.get_by_role("status").filter(has_text="session has ended")).to_be_visible()
    codes = await page.evaluate("() => window.__wsCloseCodes")
    assert CLOSE_UNAUTHORIZED in codes, codes
    await expect(page.get_by_test_id("me")).to_have_count(0)


def _rows(page: Page) -> Locator:
    return page.get_by_test_id("session-row")


async def _confirm(page: Page) -> None:
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_test_id("confirm-yes").click()
    await expect(dialog).to_have_count(0)


async def test_sign_out_another_device(web: Web, live: LiveServer) -> None:
    alice = await _user(live, "alice")
    b = await _browser(web, alice, "/", user_agent=FIREFOX_ON_WINDOWS)
    b_cookie = await _session_cookie(b.context)
    a = await _browser(web, alice, "/")

    # The header leads to the account page.
    await a.get_by_test_id("settings-link").click()
    await expect(a).to_have_url(re.compile(r"/settings$"))
    await expect(a.get_by_role("heading", name="Account", level=1)).to_be_visible()

    rows = _rows(a)
    await expect(rows).to_have_count(2)
    here = rows.and_(a.locator('[data-current="true"]'))
    other = rows.and_(a.locator('[data-current="false"]'))
    await expect(here).to_have_count(1)
    await expect(here).to_contain_text("This device")
    await expect(here).to_contain_text("Chrome on Linux")
    await expect(here.get_by_test_id("session-revoke")).to_have_count(0)
    await expect(other).to_contain_text("Firefox on Windows")
    await expect(other).to_contain_text("127.0.0.1")
    await expect(other).to_contain_text(re.compile(r"just now|minutes? ago"))
    await expect(other).not_to_contain_text("This device")
    other_id = await other.get_attribute("data-session-id")

    # Cancelling the confirmation changes nothing.
    await other.get_by_test_id("session-revoke").click()
    await expect(a.get_by_test_id("confirm-dialog")).to_be_visible()
    await a.keyboard.press("Escape")
    await expect(a.get_by_test_id("confirm-dialog")).to_have_count(0)
    await expect(connection(b)).to_have_attribute("data-state", "live")

    await other.get_by_test_id("session-revoke").click()
    await _confirm(a)

    # B's stream is closed by the server at once; B's client signs out by itself.
    await _expect_signed_out_by_server(b)
    assert await _cookie_status(web, b_cookie) == 401

    # A is untouched, and its list now shows only itself.
    await expect(rows).to_have_count(1)
    await expect(a.locator(f'[data-session-id="{other_id}"]')).to_have_count(0)
    await expect(rows.first).to_have_attribute("data-current", "true")
    await expect(a.get_by_test_id("sessions-revoke-others")).to_be_disabled()
    await expect(connection(a)).to_have_attribute("data-state", "live")
    assert await _cookie_status(web, await _session_cookie(a.context)) == 200


async def test_sign_out_everywhere_else(web: Web, live: LiveServer) -> None:
    alice = await _user(live, "alice")
    others = [await _browser(web, alice, "/") for _ in range(2)]
    cookies = [await _session_cookie(p.context) for p in others]
    a = await _browser(web, alice, "/settings")
    await expect(_rows(a)).to_have_count(3)

    await a.get_by_test_id("sessions-revoke-others").click()
    await _confirm(a)
    await expect(a.get_by_test_id("sessions-notice")).to_contain_text("2 other sessions")
    for page, cookie in zip(others, cookies, strict=True):
        await _expect_signed_out_by_server(page)
        assert await _cookie_status(web, cookie) == 401
    await expect(_rows(a)).to_have_count(1)
    await expect(connection(a)).to_have_attribute("data-state", "live")


async def test_change_password(web: Web, live: LiveServer) -> None:
    alice = await _user(live, "alice")
    b = await _browser(web, alice, "/")
    b_cookie = await _session_cookie(b.context)
    a = await _browser(web, alice, "/settings")
    current = a.locator("input[name=current-password]")
    new = a.locator("input[name=new-password]")
    confirm = a.locator("input[name=confirm-password]")
    save = a.get_by_test_id("password-save")
    error = a.get_by_test_id("password-error")

    # What password managers need to fill the form right.
    await expect(current).to_have_attribute("autocomplete", "current-password")
    await expect(new).to_have_attribute("autocomplete", "new-password")
    await expect(confirm).to_have_attribute("autocomplete", "new-password")
    for field in (current, new, confirm):
        await expect(field).to_have_attribute("type", "password")

    async def attempt(current_pw: str, new_pw: str, confirm_pw: str | None = None) -> None:
        await current.fill(current_pw)
        await new.fill(new_pw)
        await confirm.fill(new_pw if confirm_pw is None else confirm_pw)
        await save.click()

    async def nothing_changed() -> None:
        await expect(a.get_by_test_id("password-changed")).to_have_count(0)
        await expect(connection(b)).to_have_attribute("data-state", "live")
        assert await _cookie_status(web, b_cookie) == 200
        assert await _login_status(web, "alice", PASSWORD) == 200
        assert await _login_status(web, "alice", NEW_PASSWORD) == 401

    # A wrong current password: the server refuses, and says so.
    await attempt("not my password at all", NEW_PASSWORD)
    await expect(error).to_have_attribute("role", "alert")
    await expect(error).to_contain_text(re.compile(r"current password", re.I))
    await nothing_changed()

    # Too short, or not confirmed: refused before asking the server.
    await attempt(PASSWORD, "short1")
    await expect(error).to_contain_text("at least 10 characters")
    await expect(new).to_be_focused()
    await attempt(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
    await expect(error).to_contain_text("don't match")
    await expect(confirm).to_be_focused()
    await nothing_changed()

    # Long enough for the client, refused by the server's policy: its words are shown.
    await attempt(PASSWORD, COMMON_PASSWORD)
    await expect(error).to_be_visible()
    await expect(error).not_to_contain_text("at least 10 characters")
    assert (await error.inner_text()).strip()
    await nothing_changed()
    assert await _login_status(web, "alice", COMMON_PASSWORD) == 401

    # A valid change: done, the other browser is signed out, this one stays.
    await attempt(PASSWORD, NEW_PASSWORD)
    await expect(a.get_by_test_id("password-changed")).to_have_text(
        "Password changed. Other devices were signed out."
    )
    await expect(error).to_have_count(0)
    for field in (current, new, confirm):
        await expect(field).to_have_value("")
    await _expect_signed_out_by_server(b)
    assert await _cookie_status(web, b_cookie) == 401
    await expect(_rows(a)).to_have_count(1)
    await expect(connection(a)).to_have_attribute("data-state", "live")
    assert await _cookie_status(web, await _session_cookie(a.context)) == 200

    # The new password logs in; the old one no longer does.
    assert await _login_status(web, "alice", NEW_PASSWORD) == 200
    assert await _login_status(web, "alice", PASSWORD) == 401


async def test_admin_signs_a_user_out_everywhere(web: Web, live: LiveServer) -> None:
    admin = await make_user(live, "root", admin=True)
    bob = await _user(live, "bob")
    bob_page = await _browser(web, bob, "/")
    bob_cookie = await _session_cookie(bob_page.context)
    page = await web.page(admin, "/admin/users")

    bob_row = page.locator('[data-testid="admin-user"][data-username="bob"]')
    await bob_row.get_by_test_id("admin-sessions").click()
    dialog = page.get_by_test_id("admin-sessions-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_contain_text("bob")
    await expect(dialog.get_by_test_id("admin-session-row")).to_have_count(1)
    await expect(dialog.get_by_test_id("admin-session-row")).to_contain_text("Chrome on Linux")

    await dialog.get_by_test_id("admin-sessions-revoke").click()
    await _confirm(page)

    await _expect_signed_out_by_server(bob_page)
    assert await _cookie_status(web, bob_cookie) == 401
    await expect(dialog.get_by_test_id("admin-session-row")).to_have_count(0)
    await expect(dialog).to_contain_text("No active sessions")
    # The admin's own session is not bob's: still signed in.
    await expect(connection(page)).to_have_attribute("data-state", "live")

    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)


async def test_display_name_change_shows_in_the_header(web: Web, live: LiveServer) -> None:
    alice = await _user(live, "alice")
    page = await _browser(web, alice, "/settings")
    await expect(page.get_by_test_id("me")).to_have_text("Alice")
    field = page.locator("input[name=display-name]")
    await expect(field).to_have_value("Alice")
    save = page.get_by_test_id("profile-save")
    await expect(save).to_be_disabled()  # nothing to save yet

    # Markup in a name is text: shown as typed, never parsed.
    name = 'Alice <img src=x onerror="alert(1)"> L.'
    await field.fill(name)
    await save.click()
    await expect(page.get_by_test_id("profile-saved")).to_be_visible()
    await expect(page.get_by_test_id("me")).to_have_text(name)
    await expect(page.locator("header img")).to_have_count(0)

    # The server kept it: a fresh page shows it too.
    await page.reload()
    await expect(page.get_by_test_id("me")).to_have_text(name)
    await expect(field).to_have_value(name)

    # An empty name is refused without a request.
    await field.fill("   ")
    await save.click()
    await expect(page.get_by_test_id("profile-error")).to_be_visible()
    await expect(page.get_by_test_id("me")).to_have_text(name)


async def test_hostile_user_agent_is_text(web: Web, live: LiveServer) -> None:
    """A session's user agent is whatever the device sent: a payload in it is shown as
    text on the account page and the admin's dialog, and runs nowhere."""
    alice = await make_user(live, "alice", admin=True)
    payload = '<img src=x onerror="alert(document.cookie)"><script>alert(2)</script>'
    async with httpx.AsyncClient(base_url=web.origin, timeout=10) as http:
        resp = await http.post(
            "/api/v1/auth/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"User-Agent": payload},
        )
        assert resp.status_code == 200, resp.text

    page = await web.page(alice, "/settings")
    hostile = _rows(page).filter(has_text="<img src=x")
    await expect(hostile).to_have_count(1)
    # The label is cut short; the whole string is on hover, as an attribute.
    await expect(hostile).to_contain_text('<img src=x onerror="alert(document.cookie)">')
    assert await hostile.locator("[title]").first.get_attribute("title") == payload
    await expect(page.locator("main img, main script")).to_have_count(0)
    assert await audit_dom(page) == []

    await page.goto("/admin/users")
    row = page.locator('[data-testid="admin-user"][data-username="alice"]')
    await row.get_by_test_id("admin-sessions").click()
    dialog = page.get_by_test_id("admin-sessions-dialog")
    await expect(
        dialog.get_by_test_id("admin-session-row").filter(has_text="<img src=x")
    ).to_have_count(1)
    await expect(dialog.locator("img, script")).to_have_count(0)
    assert await audit_dom(page) == []
