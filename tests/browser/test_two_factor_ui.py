"""Two-factor authentication in the web client, end to end against a real server:
setting up an authenticator app from the account page, the code step at login (an
authenticator code and a recovery code), the enrol-only page a role that requires a
second factor gets, and an admin's reset.

Codes are computed here with pyotp from the secret the page shows, as a phone would.
The server never accepts the same 30-second step twice, so a test that needs a second
code uses the next step (the server accepts one step either side of now).

The tripwire (the ``web`` fixture) watches every page: nothing may run, pop up, throw,
break the CSP (a QR code drawn as a data: URL or injected SVG would) or leave the origin.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from playwright.async_api import Page, WebSocket, expect

from redoubt.domain.enums import UserRole
from tests.browser.conftest import BROWSER, LiveServer, Web, cookie_client
from tests.browser.ui import connection, eventually
from tests.harness import PASSWORD, User

pytestmark = [BROWSER, pytest.mark.timeout(120)]

RECOVERY_CODE = re.compile(r"^[a-z2-7]{5}-[a-z2-7]{5}$")
CLOSE_UNAUTHORIZED = 4401
STEP = 30


def totp(secret: str, steps_ahead: int = 0) -> str:
    """The code a phone would show now (or ``steps_ahead`` 30-second steps from now)."""
    return pyotp.TOTP(secret).at(time.time() + STEP * steps_ahead)


def wrong(code: str) -> str:
    """A well-formed code that is not ``code`` (nor, by construction, its neighbours'
    likely values: it differs in every digit)."""
    return "".join(str((int(d) + 5) % 10) for d in code)


async def _user(live: LiveServer, username: str, *, admin: bool = False) -> User:
    """An account with no session yet."""
    role = UserRole.ADMIN if admin else UserRole.USER
    return await live.api.create_user(username, role=role, login=False)


async def _token_user(live: LiveServer, username: str) -> User:
    """An account with a token session (for setting things up through the API)."""
    return await live.api.create_user(username)


async def _enrol_api(live: LiveServer, user: User) -> tuple[str, list[str]]:
    """Turn on TOTP through the API: the secret and the recovery codes."""
    started = await live.api.ok("POST", "/api/v1/users/me/2fa/totp", user)
    secret = started["secret"]
    confirmed = await live.api.ok(
        "POST", "/api/v1/users/me/2fa/totp/confirm", user, json={"code": totp(secret)}
    )
    return secret, list(confirmed["recovery_codes"])


async def _password_step(page: Page, username: str) -> None:
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()


async def _code_step(page: Page, code: str) -> None:
    field = page.locator("input[name=code]")
    await expect(field).to_be_visible()
    await field.fill(code)
    await page.get_by_test_id("code-submit").click()


async def _qr_pixels(page: Page) -> dict[str, Any]:
    """What the QR canvas shows: its size, and the colours at a quiet-zone corner and
    inside the top-left finder pattern's dark ring."""
    return dict(
        await page.get_by_test_id("twofa-qr").evaluate(
            """(c) => {
              const ctx = c.getContext("2d");
              const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
              // 6 px a module, a 4-module quiet zone: the finder starts at pixel 24.
              return { width: c.width, height: c.height, corner: at(2, 2), finder: at(26, 26),
                       finderCore: at(24 + 6 * 3 + 3, 24 + 6 * 3 + 3),
                       finderGap: at(24 + 6 + 3, 24 + 6 + 3) };
            }"""
        )
    )


async def _enrol_ui(page: Page) -> tuple[str, list[str]]:
    """Set up an authenticator app on the page (settings or the enrol-only page), the way
    a person would: scan (here, read) the key, type a code, get the recovery codes."""
    await page.get_by_test_id("twofa-setup").click()
    qr = page.get_by_test_id("twofa-qr")
    await expect(qr).to_be_visible()
    await expect(qr).to_have_attribute("aria-label", "QR code for your authenticator app")

    async def drawn() -> bool:
        return bool(await qr.evaluate("c => c.width > 100"))

    await eventually(drawn, "the QR code to be drawn")
    pixels = await _qr_pixels(page)
    assert pixels["width"] == pixels["height"], pixels
    assert pixels["corner"] == [255, 255, 255], pixels
    assert pixels["finder"] == [0, 0, 0], pixels
    assert pixels["finderCore"] == [0, 0, 0], pixels
    assert pixels["finderGap"] == [255, 255, 255], pixels

    shown = (await page.get_by_test_id("twofa-secret").inner_text()).strip()
    groups = shown.split(" ")
    assert all(len(g) == 4 for g in groups[:-1]), shown
    assert 0 < len(groups[-1]) <= 4, shown
    secret = shown.replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), shown

    code_field = page.locator("input[name=twofa-code]")
    # A wrong code first: refused with the server's words, nothing turned on.
    await code_field.fill(wrong(totp(secret)))
    await page.get_by_test_id("twofa-confirm").click()
    await expect(page.get_by_test_id("twofa-error")).to_be_visible()
    await expect(page.get_by_test_id("twofa-recovery-codes")).to_have_count(0)

    await code_field.fill(totp(secret))
    await page.get_by_test_id("twofa-confirm").click()
    listed = page.get_by_test_id("twofa-recovery-codes").get_by_test_id("recovery-code")
    await expect(listed).to_have_count(10)
    codes = [c.strip() for c in await listed.all_inner_texts()]
    assert len(set(codes)) == 10, codes
    assert all(RECOVERY_CODE.match(c) for c in codes), codes
    return secret, codes


async def _session_status(web: Web, cookie: str) -> int:
    async with cookie_client(web.origin, cookie) as http:
        return (await http.get("/api/v1/auth/session")).status_code


async def _cookie(page: Page) -> str:
    return {c["name"]: c["value"] for c in await page.context.cookies()}["redoubt_session"]


async def test_enrol_from_settings_then_log_in_with_a_code(
    web: Web, live: LiveServer, tmp_path: Path
) -> None:
    alice = await _user(live, "alice")
    # Another device, signed in before enrolment: turning 2FA on signs it out.
    other = await web.page(alice, "/")
    other_cookie = await _cookie(other)

    page = await web.page(alice, "/settings")
    section = page.get_by_test_id("twofa-section")
    await expect(section.get_by_test_id("twofa-status")).to_have_text("Off")
    secret, codes = await _enrol_ui(page)

    # The codes download as a text file (through a blob: URL, which the CSP allows).
    async with page.expect_download() as download_info:
        await page.get_by_test_id("twofa-download").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name == "redoubt-recovery-codes-alice.txt"
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert all(code in lines for code in codes), lines

    await page.get_by_test_id("twofa-done").click()
    await expect(page.get_by_test_id("twofa-recovery-codes")).to_have_count(0)
    await expect(section.get_by_test_id("twofa-status")).to_have_text("On · 10 recovery codes left")
    # This browser stayed signed in; the other device's session ended.
    await expect(connection(page)).to_have_attribute("data-state", "live")
    assert await _session_status(web, other_cookie) == 401

    # Log out and back in, to a page named in ?next=: password, then a code.
    await page.get_by_test_id("logout").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/login?next=/settings")
    await _password_step(page, "alice")
    field = page.locator("input[name=code]")
    await expect(field).to_be_visible()
    await expect(field).to_have_attribute("autocomplete", "one-time-code")
    await expect(field).to_have_attribute("inputmode", "numeric")
    await expect(page.locator("input[name=password]")).to_have_count(0)
    # No session exists during the second step.
    assert "redoubt_session" not in [c["name"] for c in await page.context.cookies()]

    await _code_step(page, wrong(totp(secret, 1)))
    await expect(page.get_by_test_id("login-error")).to_contain_text("didn't work")
    await expect(page.get_by_test_id("me")).to_have_count(0)

    # The next step's code (the current one was spent on enrolment).
    await _code_step(page, totp(secret, 1))
    await expect(page.get_by_test_id("me")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/settings$"))
    await expect(connection(page)).to_have_attribute("data-state", "live")


async def test_log_in_with_a_recovery_code_then_manage(web: Web, live: LiveServer) -> None:
    bob = await _token_user(live, "bob")
    secret, codes = await _enrol_api(live, bob)

    page = await (await web.context()).new_page()
    await page.goto("/login")
    await _password_step(page, "bob")
    await expect(page.locator("input[name=code]")).to_be_visible()

    # Five wrong codes use the challenge up: the page goes back to the password.
    code_field = page.locator("input[name=code]")
    for _ in range(4):
        await _code_step(page, wrong(totp(secret)))
        await expect(code_field).to_have_value("")  # cleared once the server said no
        await expect(page.get_by_test_id("login-error")).to_contain_text("didn't work")
    await _code_step(page, wrong(totp(secret)))
    await expect(page.locator("input[name=password]")).to_be_visible()
    await expect(code_field).to_have_count(0)
    await expect(page.get_by_test_id("login-error")).to_contain_text("Enter your password again")

    await _password_step(page, "bob")
    await page.get_by_test_id("code-toggle").click()
    field = page.locator("input[name=code]")
    await expect(field).to_have_attribute("type", "text")
    await expect(field).not_to_have_attribute("inputmode", "numeric")
    # Case and spacing don't matter to the server.
    await _code_step(page, f"  {codes[0].upper()} ")
    await expect(page.get_by_test_id("me")).to_be_visible()

    # A used recovery code doesn't work twice.
    async with httpx.AsyncClient(base_url=web.origin, timeout=10) as http:
        first = await http.post(
            "/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}
        )
        challenge = first.json()["challenge"]
        again = await http.post(
            "/api/v1/auth/login/2fa", json={"challenge": challenge, "code": codes[0]}
        )
        assert again.status_code == 401, again.text

    await page.get_by_test_id("settings-link").click()
    status = page.get_by_test_id("twofa-status")
    await expect(status).to_have_text("On · 9 recovery codes left")

    # New recovery codes (a TOTP code from the next step: the current one is spent).
    await page.get_by_test_id("twofa-regenerate").click()
    await page.locator("input[name=twofa-regenerate-code]").fill(wrong(totp(secret, 1)))
    await page.get_by_test_id("twofa-regenerate-confirm").click()
    await expect(page.get_by_test_id("twofa-error")).to_be_visible()
    await expect(page.get_by_test_id("me")).to_be_visible()  # a wrong code isn't a sign-out
    await page.locator("input[name=twofa-regenerate-code]").fill(totp(secret, 1))
    await page.get_by_test_id("twofa-regenerate-confirm").click()
    fresh = page.get_by_test_id("recovery-code")
    await expect(fresh).to_have_count(10)
    new_codes = [c.strip() for c in await fresh.all_inner_texts()]
    assert not set(new_codes) & set(codes)
    await page.get_by_test_id("twofa-done").click()
    await expect(status).to_have_text("On · 10 recovery codes left")

    # Turn it off with the password and a (new) recovery code; an old one is refused.
    await page.get_by_test_id("twofa-disable").click()
    await page.locator("input[name=twofa-disable-password]").fill(PASSWORD)
    await page.locator("input[name=twofa-disable-code]").fill(codes[1])
    await page.get_by_test_id("twofa-disable-confirm").click()
    await expect(page.get_by_test_id("twofa-error")).to_be_visible()
    await page.locator("input[name=twofa-disable-code]").fill(new_codes[0])
    await page.get_by_test_id("twofa-disable-confirm").click()
    await expect(status).to_have_text("Off")
    await expect(page.get_by_test_id("twofa-setup")).to_be_visible()

    # Password alone signs in now.
    async with httpx.AsyncClient(base_url=web.origin, timeout=10) as http:
        resp = await http.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
        assert resp.json()["status"] == "ok", resp.text


@pytest.mark.parametrize("live_overrides", [{"require_2fa_roles": ["admin"]}])
async def test_role_that_requires_2fa_must_enrol_first(web: Web, live: LiveServer) -> None:
    await _user(live, "root", admin=True)
    context = await web.context()
    page = await context.new_page()
    sockets: list[WebSocket] = []

    def opened(ws: WebSocket) -> None:
        # A plain function: Playwright tags handlers, which a bound builtin can't take.
        sockets.append(ws)

    page.on("websocket", opened)

    await page.goto("/admin")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin$"))
    await _password_step(page, "root")
    enrol = page.get_by_test_id("enrol-required")
    await expect(enrol).to_be_visible()
    await expect(enrol).to_contain_text("Your role requires two-factor authentication")
    for testid in ("me", "room-list", "admin-link", "settings-link", "not-allowed"):
        await expect(page.get_by_test_id(testid)).to_have_count(0)

    # Nowhere else to go: rooms and admin pages show the same screen; the server refuses
    # everything but enrolment.
    for path in ("/admin/users", "/r/1", "/settings", "/"):
        await page.goto(path)
        await expect(enrol).to_be_visible()
        await expect(page.get_by_test_id("me")).to_have_count(0)
    refused = await page.request.get("/api/v1/admin/users")
    assert refused.status == 403, await refused.text()
    assert (await refused.json())["error"]["code"] == "two_factor_enrolment_required"
    assert sockets == [], [s.url for s in sockets]

    # Logging out from there works like anywhere.
    await page.get_by_test_id("logout").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    assert "redoubt_session" not in [c["name"] for c in await context.cookies()]

    await page.goto("/login?next=/admin/users")
    await _password_step(page, "root")
    await expect(enrol).to_be_visible()
    secret, _codes = await _enrol_ui(page)
    await page.get_by_test_id("twofa-done").click()

    # In: the app starts, with its stream, at the page asked for before logging in.
    await expect(page.get_by_test_id("me")).to_be_visible()
    await expect(enrol).to_have_count(0)
    await expect(page).to_have_url(re.compile(r"/admin/users$"))
    await expect(page.get_by_test_id("admin-user").first).to_be_visible()
    await expect(connection(page)).to_have_attribute("data-state", "live")

    # The settings say it's required, and offer no way to turn it off.
    await page.get_by_test_id("settings-link").click()
    status = page.get_by_test_id("twofa-status")
    await expect(status).to_have_text("On · 10 recovery codes left · Required by your role")
    await expect(page.get_by_test_id("twofa-regenerate")).to_be_visible()
    await expect(page.get_by_test_id("twofa-disable")).to_have_count(0)

    # From now on the login has a code step.
    await page.get_by_test_id("logout").click()
    await _password_step(page, "root")
    await _code_step(page, totp(secret, 1))
    await expect(page.get_by_test_id("me")).to_be_visible()
    await expect(enrol).to_have_count(0)


async def test_admin_resets_a_users_second_factor(web: Web, live: LiveServer) -> None:
    admin = await _user(live, "boss", admin=True)
    carol = await _token_user(live, "carol")
    secret, _codes = await _enrol_api(live, carol)

    # Carol signs in in her browser (password + code) and goes live.
    carol_page = await (await web.context()).new_page()
    await carol_page.goto("/")
    await _password_step(carol_page, "carol")
    await _code_step(carol_page, totp(secret, 1))
    await expect(carol_page.get_by_test_id("me")).to_be_visible()
    await expect(connection(carol_page)).to_have_attribute("data-state", "live")

    page = await web.page(admin, "/admin/users")
    row = page.locator('[data-testid="admin-user"][data-username="carol"]')
    # No reset button for oneself: turning one's own off takes the password and a code.
    mine = page.locator('[data-testid="admin-user"][data-username="boss"]')
    await expect(mine.get_by_test_id("admin-reset-2fa")).to_have_count(0)

    # Cancelling changes nothing.
    await row.get_by_test_id("admin-reset-2fa").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text("carol")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(connection(carol_page)).to_have_attribute("data-state", "live")

    await row.get_by_test_id("admin-reset-2fa").click()
    await dialog.get_by_test_id("confirm-yes").click()
    await expect(page.get_by_test_id("admin-notice")).to_contain_text("carol")

    # Carol is signed out at once, and her password alone signs her in now.
    await expect(carol_page).to_have_url(re.compile(r"/login(\?|$)"))
    ended = carol_page.get_by_role("status").filter(has_text="session has ended")
    await expect(ended).to_be_visible()
    await _password_step(carol_page, "carol")
    await expect(carol_page.get_by_test_id("me")).to_be_visible()
    await expect(carol_page.locator("input[name=code]")).to_have_count(0)

    # And it is on the record.
    await page.goto("/admin/audit")
    reset = page.get_by_test_id("audit-entry").filter(has_text="2fa.reset_by_admin")
    await expect(reset).to_have_count(1)
    await expect(reset).to_contain_text(f"user {carol.id}")
