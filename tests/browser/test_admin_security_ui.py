"""Admin → Security in the web client, end to end against a real server: an admin
chooses which roles must use a second factor, and the choice is stored on the server
(not just in the page).

The tripwire (the ``web`` fixture) watches every page: nothing may run, pop up, throw,
break the CSP or leave the origin.
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from redoubt.domain.enums import UserRole
from tests.browser.conftest import BROWSER, LiveServer, Web

pytestmark = [BROWSER, pytest.mark.timeout(120)]

SECURITY = "/api/v1/admin/security"


async def test_admin_requires_2fa_for_users_and_it_persists(web: Web, live: LiveServer) -> None:
    admin = await live.api.create_user("boss", role=UserRole.ADMIN, login=False)
    # A second admin with a token session: the server's own answer, not the page's.
    ops = await live.api.create_user("ops", role=UserRole.ADMIN)
    assert await live.api.ok("GET", SECURITY, ops) == {"require_2fa_roles": []}

    page = await web.page(admin, "/admin/users")
    await page.get_by_role("link", name="Security").click()
    await expect(page).to_have_url(f"{live.origin}/admin/security")
    boxes = {r: page.locator(f"input[name=require-2fa-{r}]") for r in ("admin", "user", "guest")}
    for box in boxes.values():
        await expect(box).not_to_be_checked()

    await boxes["user"].check()
    await page.get_by_test_id("admin-security-save").click()
    await expect(page.get_by_test_id("admin-security-saved")).to_be_visible()
    assert await live.api.ok("GET", SECURITY, ops) == {"require_2fa_roles": ["user"]}

    # A fresh load of the page shows what the server stored.
    await page.reload()
    await expect(boxes["user"]).to_be_checked()
    await expect(boxes["admin"]).not_to_be_checked()
    await expect(boxes["guest"]).not_to_be_checked()
    await expect(page.get_by_test_id("admin-security-saved")).to_have_count(0)

    # Unchecking and saving takes it away again.
    await boxes["user"].uncheck()
    await page.get_by_test_id("admin-security-save").click()
    await expect(page.get_by_test_id("admin-security-saved")).to_be_visible()
    assert await live.api.ok("GET", SECURITY, ops) == {"require_2fa_roles": []}

    # On the record.
    await page.goto("/admin/audit")
    entries = page.get_by_test_id("audit-entry").filter(has_text="settings.require_2fa_roles")
    await expect(entries).to_have_count(2)
