"""Fixtures for the browser tests: a real server serving the built client, one headless
Debian Chromium per session, and tripwired browser contexts per test.

Everything async runs in the session's event loop: the browser lives for the session,
and a server's uvicorn task must share the loop of the test that drives it (a test
awaiting in one loop while the server sits in another would hang). Test modules mark
themselves with ``pytestmark = BROWSER``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from redoubt.core.settings import Settings
from redoubt.domain.enums import UserRole
from tests import harness
from tests.browser.tripwire import Tripwire
from tests.harness import PASSWORD, Server, SettingsFactory, User, deployment, run_server

ROOT = Path(__file__).resolve().parents[2]
# The built client; point elsewhere to test another build without touching web/dist.
WEB_DIST = Path(os.environ.get("REDOUBT_TEST_WEB_DIR", ROOT / "web" / "dist"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Every browser test runs in the session loop (see the module docstring).
BROWSER = pytest.mark.asyncio(loop_scope="session")

# Assertions wait this long for the UI; live updates on loopback take milliseconds.
expect.set_options(timeout=7_000)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - once per session, before any await
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    if not (WEB_DIST / "index.html").exists():
        pytest.fail("The web client is not built: cd web && npm run build", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class LiveServer:
    """A harness server on a fixed port and data directory that a test may restart.

    The port stays the same across restarts so the pages and their cookies keep their
    origin; the data directory (SQLite) keeps users, sessions and events.
    """

    settings: SettingsFactory
    port: int = field(default_factory=harness.free_port)
    server: Server | None = None
    _stack: contextlib.AsyncExitStack | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> Server:
        assert self.server is not None, "the server is stopped"
        return self.server

    async def start(self) -> Server:
        assert self.server is None, "already running"
        stack = contextlib.AsyncExitStack()
        self.server = await stack.enter_async_context(
            run_server(self.settings(web_dir=WEB_DIST), port=self.port)
        )
        self._stack = stack
        return self.server

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack, self.server = self._stack, None, None
            await stack.aclose()

    async def restart(self) -> Server:
        await self.stop()
        return await self.start()


@pytest.fixture
def live_overrides() -> dict[str, Any]:
    """Settings for the ``live`` server beyond the harness's test defaults. A test changes
    them by parametrizing this name: ``@pytest.mark.parametrize("live_overrides",
    [{"require_2fa_roles": ["admin"]}])``."""
    return {}


@pytest.fixture
def live_port() -> int:
    """The ``live`` server's port, chosen before it starts, so that ``live_overrides`` can
    name the server's own origin (``public_url``, for links in mails)."""
    return harness.free_port()


@pytest_asyncio.fixture(loop_scope="session")
async def live(
    tmp_path: Path, live_port: int, live_overrides: dict[str, Any]
) -> AsyncIterator[LiveServer]:
    async with deployment("sqlite", tmp_path / "data") as factory:

        def settings(**overrides: Any) -> Settings:
            return factory(**{**live_overrides, **overrides})

        server = LiveServer(settings, port=live_port)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()


@dataclass
class Web:
    """Browser contexts for one test, all watched by one tripwire."""

    live: LiveServer
    browser: Browser
    tripwire: Tripwire
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.live.origin

    async def context(self, **options: Any) -> BrowserContext:
        """A fresh, signed-out, tripwired context (options as for Browser.new_context)."""
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = await self.browser.new_context(
            base_url=self.origin, accept_downloads=True, **options
        )
        context.set_default_timeout(10_000)
        await self.tripwire.watch(context)
        self.contexts.append(context)
        return context

    async def page(self, user: User | None = None, path: str = "/", **options: Any) -> Page:
        """A page in a new context, signed in as ``user`` (through the API, in cookie
        mode, the way the client does it), opened at ``path``."""
        context = await self.context(**options)
        if user is not None:
            await self.sign_in_api(context, user)
        page = await context.new_page()
        await page.goto(path)
        if user is not None:
            await expect(page.get_by_test_id("me")).to_be_visible()
        return page

    async def sign_in_api(self, context: BrowserContext, user: User) -> None:
        resp = await context.request.post(
            "/api/v1/auth/login",
            data={"username": user.username, "password": PASSWORD, "mode": "cookie"},
            headers={"Origin": self.origin},  # as a browser's fetch sends it
        )
        assert resp.ok, (resp.status, await resp.text())
        cookies = [c["name"] for c in await context.cookies()]
        assert "redoubt_session" in cookies, cookies

    async def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):  # a context may already be closed
                await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def web(live: LiveServer, browser: Browser) -> AsyncIterator[Web]:
    """Browser contexts for the test; at teardown nothing may have run, popped up,
    thrown, broken the CSP or left for another origin."""
    session = Web(live, browser, Tripwire(live.origin))
    try:
        yield session
        await session.tripwire.check_pages_intact()
        session.tripwire.assert_clean()
    finally:
        await session.close()


async def sign_in_ui(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill the login form and submit it (the page must be on /login)."""
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("me")).to_be_visible()


async def make_user(live: LiveServer, username: str, *, admin: bool = False) -> User:
    role = UserRole.ADMIN if admin else UserRole.USER
    return await live.api.create_user(username, role=role)


def cookie_client(origin: str, session_cookie: str) -> httpx.AsyncClient:
    """A plain HTTP client presenting a browser's session cookie (to prove it is dead)."""
    return httpx.AsyncClient(
        base_url=origin, cookies={"redoubt_session": session_cookie}, timeout=10
    )
