"""Password reset in the web client, end to end through a real SMTP server (T13).

A loopback SMTP server (aiosmtpd) receives what the live server sends. Alice gives
herself an address on the account page, forgets her password, asks for a link on the
login page, and the test opens the link from the mail itself: the page must take the
token out of the address bar at once and send it nowhere but the one confirm call; the
new password works, the old one doesn't, her other sessions end, and the same link
refuses a second use. Asking for an account that doesn't exist must look exactly the
same on the page and send nothing. The tripwire (the ``web`` fixture) watches every page.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, Request, expect

from tests.browser.conftest import BROWSER, LiveServer, Web, sign_in_ui
from tests.browser.ui import connection
from tests.conftest import LogSecretDetector
from tests.harness import PASSWORD
from tests.mail_server import Inbox, inbox_fixture, mail_settings  # noqa: F401

pytestmark = [BROWSER, pytest.mark.timeout(90)]

NEW_PASSWORD = "juniper lantern 47 over the ridge"
SECOND_TRY_PASSWORD = "quiet harbour 18 before dawn"
ADDRESS = "alice@example.org"
# The page's one sentence after any reset request (ui/ForgotPassword.tsx).
NEUTRAL = "If that account exists and has an email address, a reset link is on its way."
DONE = "Password changed. All your sessions were signed out. Log in with the new password."
INVALID_LINK = "This reset link is invalid or has expired."
CONFIRM_PATH = "/api/v1/auth/password-reset/confirm"
CLOSE_UNAUTHORIZED = 4401

# Counts the page's WebSockets and records how they closed, installed before the client
# loads (as in test_settings.py).
_RECORD_WS_CLOSES = """(() => {
  const codes = [];
  Object.defineProperty(window, "__wsCloseCodes", { value: codes });
  window.__wsOpened = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => { window.__wsOpened += 1; });
      this.addEventListener("close", (e) => codes.push(e.code));
    }
  };
})()"""


# --------------------------------------------------------------------- the relay


@pytest.fixture
def live_overrides(inbox: Inbox, live_port: int) -> dict[str, Any]:
    """Mail through the loopback relay; links point at the live server itself."""
    return mail_settings(inbox, f"http://127.0.0.1:{live_port}")


@pytest.fixture
def detector(secret_log_detector: LogSecretDetector) -> LogSecretDetector:
    for password in (NEW_PASSWORD, SECOND_TRY_PASSWORD):
        secret_log_detector.remember(password)
    return secret_log_detector


# --------------------------------------------------------------------- helpers


def reset_link(live: LiveServer, message: EmailMessage) -> tuple[str, str]:
    """The link in a reset mail and its token."""
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(
        re.escape(live.origin) + r"/reset#token=([A-Za-z0-9_\-]+)", body.get_content()
    )
    assert found is not None, "no reset link to this server in the mail"
    return found.group(0), found.group(1)


async def settle(live: LiveServer) -> None:
    """Wait for the work reset requests leave running in the background (the lookup and
    the mail), so that "no mail" means none was sent rather than none yet."""
    await live.api.container.context.background.idle()


async def ask_for_link(page: Page, username_or_email: str) -> None:
    """From the login page: "Forgot password?", the name, and the neutral answer."""
    await page.get_by_test_id("forgot-link").click()
    field_ = page.locator("input[name=username-or-email]")
    await field_.fill(username_or_email)
    await page.get_by_test_id("forgot-submit").click()
    await expect(page.get_by_test_id("forgot-sent")).to_have_text(NEUTRAL)


async def give_address(page: Page, address: str) -> None:
    """Set the address on the account page (open at /settings) with the right password."""
    section = page.get_by_test_id("email-section")
    await expect(section.get_by_test_id("email-current")).to_have_text("None")
    await section.locator("input[name=email]").fill(address)
    await section.locator("input[name=email-current-password]").fill(PASSWORD)
    await section.get_by_test_id("email-save").click()
    await expect(section.get_by_test_id("email-current")).to_have_text(address)


async def login_status(live: LiveServer, username: str, password: str) -> int:
    async with httpx.AsyncClient(base_url=live.origin, timeout=10) as http:
        resp = await http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        return resp.status_code


def record_requests(context: BrowserContext) -> list[Request]:
    requests: list[Request] = []

    def record(request: Request) -> None:
        requests.append(request)

    context.on("request", record)
    return requests


async def choose_password(page: Page, password: str, confirm: str | None = None) -> None:
    await page.locator("input[name=new-password]").fill(password)
    await page.locator("input[name=confirm-password]").fill(
        password if confirm is None else confirm
    )
    await page.get_by_test_id("reset-submit").click()


# --------------------------------------------------------------------- tests


async def test_reset_by_mail_from_the_login_page(
    web: Web, live: LiveServer, inbox: Inbox, detector: LogSecretDetector
) -> None:
    alice = await live.api.create_user("alice", login=False)

    # Her address, set on the account page; the current password is required.
    settings = await web.page(alice, "/settings")
    section = settings.get_by_test_id("email-section")
    await expect(section.get_by_test_id("email-current")).to_have_text("None")
    await section.locator("input[name=email]").fill(ADDRESS)
    await section.locator("input[name=email-current-password]").fill("not her password at all")
    await section.get_by_test_id("email-save").click()
    await expect(section.get_by_test_id("email-error")).to_be_visible()
    await expect(section.get_by_test_id("email-current")).to_have_text("None")
    await section.locator("input[name=email-current-password]").fill(PASSWORD)
    await section.get_by_test_id("email-save").click()
    await expect(section.get_by_test_id("email-saved")).to_be_visible()
    await expect(section.get_by_test_id("email-current")).to_have_text(ADDRESS)
    await expect(section.get_by_test_id("email-error")).to_have_count(0)
    assert not inbox.messages, "setting a first address mails nobody"

    # Another device of hers stays signed in until the reset.
    other = await web.page(alice, "/")
    await expect(connection(other)).to_have_attribute("data-state", "live")

    await settings.get_by_test_id("logout").click()
    await expect(settings.locator("input[name=username]")).to_be_visible()
    await ask_for_link(settings, "alice")
    await inbox.wait_for(1)
    recipients, message = inbox.messages[0]
    assert recipients == [ADDRESS]
    link, token = reset_link(live, message)
    detector.remember(token)

    # The link opened in a fresh browser, as from a mail client.
    context = await web.context()
    requests = record_requests(context)
    page = await context.new_page()
    await page.goto(link)
    await expect(page.locator("input[name=new-password]")).to_be_visible()
    # The token left the address bar (and the history entry) at once.
    assert page.url == f"{live.origin}/reset", page.url
    assert token not in await page.evaluate("() => location.href + document.title")

    # The client's own checks send nothing.
    await choose_password(page, "short", "short")
    await expect(page.get_by_test_id("reset-error")).to_contain_text("at least 10 characters")
    await choose_password(page, NEW_PASSWORD, NEW_PASSWORD + "!")
    await expect(page.get_by_test_id("reset-error")).to_contain_text("don't match")
    assert not [r for r in requests if r.url.endswith(CONFIRM_PATH)]

    await choose_password(page, NEW_PASSWORD)
    await expect(page.get_by_test_id("reset-done")).to_have_text(DONE)
    await expect(page.locator("input[name=new-password]")).to_have_count(0)

    # The token went out once, in the confirm call's body, and nowhere else: no URL, no
    # header (a Referer included) of any request the page made.
    carried = [r for r in requests if token in (r.post_data or "")]
    assert [(r.method, r.url) for r in carried] == [("POST", live.origin + CONFIRM_PATH)]
    for r in requests:
        assert token not in r.url
        assert all(token not in value for value in (await r.all_headers()).values())

    # Every session of hers ended: the other device is back at the login page.
    await expect(other.locator("input[name=username]")).to_be_visible()
    await expect(other.get_by_test_id("me")).to_have_count(0)

    # The new password works from the link on the page; the old one doesn't.
    await page.get_by_test_id("reset-login").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await sign_in_ui(page, "alice", NEW_PASSWORD)
    assert await login_status(live, "alice", PASSWORD) == 401
    old = await web.page(None, "/login")
    await old.locator("input[name=username]").fill("alice")
    await old.locator("input[name=password]").fill(PASSWORD)
    await old.get_by_test_id("login-submit").click()
    await expect(old.get_by_test_id("login-error")).to_be_visible()
    await expect(old.get_by_test_id("me")).to_have_count(0)

    # The same link, opened again: refused with the server's words, offering a new one.
    again = await web.page(None, link)
    await expect(again.locator("input[name=new-password]")).to_be_visible()
    assert again.url == f"{live.origin}/reset", again.url
    await choose_password(again, SECOND_TRY_PASSWORD)
    # The server's message as it came (with the incident id every error carries).
    await expect(again.get_by_test_id("reset-error")).to_have_text(
        re.compile(re.escape(INVALID_LINK) + r"( \(incident [0-9a-f]+\))?")
    )
    await expect(again.get_by_test_id("reset-done")).to_have_count(0)
    await again.get_by_test_id("reset-request-new").click()
    await expect(again.locator("input[name=username-or-email]")).to_be_visible()
    assert await login_status(live, "alice", SECOND_TRY_PASSWORD) == 401
    assert await login_status(live, "alice", NEW_PASSWORD) == 200


async def test_unknown_account_looks_the_same_and_sends_nothing(
    web: Web, live: LiveServer, inbox: Inbox
) -> None:
    # Alice has an address, Bob exists without one, nobody is called "mallory".
    alice = await live.api.create_user("alice", login=False)
    await live.api.create_user("bob", login=False)
    await give_address(await web.page(alice, "/settings"), ADDRESS)

    seen: list[str] = []
    for name in ("mallory", "bob", "nobody@example.org", "alice"):
        page = await web.page(None, "/login")
        await ask_for_link(page, name)
        card = page.locator(".login-card")
        seen.append(await card.inner_text())
    await settle(live)
    await inbox.wait_for(1)
    await settle(live)
    # Identical pages, whoever was asked for; only the real account got a mail.
    assert len(set(seen)) == 1, seen
    assert [recipients for recipients, _ in inbox.messages] == [[ADDRESS]]


async def test_reset_page_without_a_usable_token(web: Web, live: LiveServer) -> None:
    """A link cut short or mangled says so and offers a new one; a token in the query
    string (already sent to every hop) is not read at all."""
    for path in ("/reset", "/reset#token=", "/reset#token=<b>not a token</b>", "/reset?token=abc"):
        page = await web.page(None, path)
        await expect(page.get_by_test_id("reset-missing")).to_be_visible()
        await expect(page.locator("input[name=new-password]")).to_have_count(0)
        assert "#" not in page.url, page.url
        # It offers a new link in place.
        await page.get_by_test_id("reset-request-new").click()
        await page.locator("input[name=username-or-email]").fill("someone")
        await page.get_by_test_id("forgot-submit").click()
        await expect(page.get_by_test_id("forgot-sent")).to_have_text(NEUTRAL)


async def test_reset_while_signed_in_as_that_user(
    web: Web, live: LiveServer, inbox: Inbox, detector: LogSecretDetector
) -> None:
    """The link opened in a browser signed in to the same account: the reset ends that
    session too, and the page stays to say so rather than jumping to the login page."""
    alice = await live.api.create_user("alice", login=False)
    context = await web.context()
    await context.add_init_script(_RECORD_WS_CLOSES)
    await web.sign_in_api(context, alice)
    page = await context.new_page()
    await page.goto("/settings")
    await give_address(page, ADDRESS)
    # Asked for by address this time.
    async with httpx.AsyncClient(base_url=live.origin, timeout=10) as http:
        resp = await http.post("/api/v1/auth/password-reset", json={"username_or_email": ADDRESS})
        assert resp.status_code == 202
    await inbox.wait_for(1)
    link, token = reset_link(live, inbox.messages[0][1])
    detector.remember(token)

    await page.goto(link)
    # Signed in: the page's event stream is up before the reset.
    await page.wait_for_function("() => window.__wsOpened > 0")
    await choose_password(page, NEW_PASSWORD)
    await expect(page.get_by_test_id("reset-done")).to_have_text(DONE)
    await page.wait_for_function(f"() => window.__wsCloseCodes.includes({CLOSE_UNAUTHORIZED})")
    assert (await page.request.get("/api/v1/auth/session")).status == 401
    await expect(page.get_by_test_id("reset-done")).to_be_visible()
    assert page.url == f"{live.origin}/reset", page.url
    await page.get_by_test_id("reset-login").click()
    await sign_in_ui(page, "alice", NEW_PASSWORD)
