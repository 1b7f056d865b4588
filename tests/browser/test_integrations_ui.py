"""API tokens, webhooks, the doctor and the audit filters in the web client, end to end
against a real server (issue 5).

- A token's secret is shown once: in the dialog after creating (or rotating) it, and
  nowhere after that dialog closes (not in the page, its fields, storage, or after a
  reload). The secret shown is the real one (the API takes it), and revoking it from
  the page kills it on the server.
- An admin creating an incoming webhook in legacy URL-token mode is warned before and
  after, and the hook is flagged in the list.
- A webhook attachment is text: markup in it stays inert, a ``javascript:`` link is no
  link, and a colour that isn't ``#rrggbb`` is no colour. The server refuses such a
  payload outright; the client is tested against the same values planted in the
  database (a stored row the server's checks never saw), so each layer holds alone.
- The doctor page lists the server's findings, grouped by severity, and checks again
  on request; the audit log's filters drive both the list and the export links.

The tripwire (the ``web`` fixture) watches every page: nothing may run, pop up, throw,
break the CSP or leave the origin.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import update

from redoubt.domain.enums import UserRole
from redoubt.storage import schema
from tests.browser.conftest import BROWSER, LiveServer, Web
from tests.browser.dom_audit import audit_dom
from tests.browser.ui import message
from tests.harness import User, signed_request

pytestmark = [BROWSER, pytest.mark.timeout(120)]

API = "/api/v1"

# Everything the page shows: its text, every field's value, and both storages.
_EVERYTHING_ON_THE_PAGE = """() => [
  document.body.innerText,
  ...Array.from(document.querySelectorAll("input, textarea"), (f) => f.value),
  JSON.stringify(Object.assign({}, localStorage)),
  JSON.stringify(Object.assign({}, sessionStorage)),
  location.href,
].join("\\n")"""

MALICIOUS_ATTACHMENT: dict[str, Any] = {
    "title": "<img src=x onerror=alert(1)>",
    "title_link": "javascript:alert(1)",
    "text": "<script>alert(2)</script> **not bold** [click](javascript:alert(3))",
    "color": "red;background:url(x)",
    "author_name": "<svg onload=alert(4)>",
    "fields": [{"title": "<b>env</b>", "value": "<iframe src=javascript:alert(5)>", "short": True}],
}


async def _status_with(live: LiveServer, secret: str) -> int:
    """What the API answers a request carrying ``secret`` as a bearer token."""
    async with httpx.AsyncClient(base_url=live.origin, timeout=10) as http:
        resp = await http.get(f"{API}/rooms", headers={"Authorization": f"Bearer {secret}"})
        return resp.status_code


async def _page_shows(page: Page, secret: str) -> bool:
    shown: str = await page.evaluate(_EVERYTHING_ON_THE_PAGE)
    return secret in shown


def _row(page: Page, test_id: str, name: str) -> Locator:
    return page.get_by_test_id(test_id).filter(has=page.get_by_text(name, exact=True))


async def _confirm(page: Page) -> None:
    await expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    await page.get_by_test_id("confirm-yes").click()
    await expect(page.get_by_test_id("confirm-dialog")).to_have_count(0)


# --- API tokens ---------------------------------------------------------------------------


async def test_token_secret_is_shown_once_works_rotates_and_revokes(
    web: Web, live: LiveServer
) -> None:
    alice = await live.api.create_user("alice", login=False)
    page = await web.page(alice, "/settings")
    section = page.get_by_test_id("tokens-section")
    await expect(section.get_by_test_id("tokens-empty")).to_be_visible()

    # Create: the form's own check first (no scope), then a good one.
    await section.get_by_test_id("token-new").click()
    dialog = page.get_by_test_id("token-create-dialog")
    await dialog.locator("input[name=token-name]").fill("deploy script")
    await dialog.get_by_test_id("token-create-submit").click()
    await expect(dialog.get_by_test_id("token-form-error")).to_contain_text("scope")
    await dialog.locator('input[name=token-scope][value="messages:read"]').check()
    # The admin scope isn't offered to a user.
    await expect(dialog.locator('input[name=token-scope][value="admin"]')).to_have_count(0)
    await dialog.locator("textarea[name=token-networks]").fill("not-a-range")
    await dialog.get_by_test_id("token-create-submit").click()
    await expect(dialog.get_by_test_id("token-form-error")).to_contain_text("not-a-range")
    await dialog.locator("textarea[name=token-networks]").fill("127.0.0.0/8\n::1")
    await dialog.get_by_test_id("token-create-submit").click()

    shown = page.get_by_test_id("secret-dialog")
    await expect(shown).to_be_visible()
    await expect(dialog).to_have_count(0)
    await expect(shown.get_by_test_id("secret-once-note")).to_contain_text(
        re.compile("won.t see it again")
    )
    field = shown.get_by_test_id("secret-value")
    await expect(field).to_have_attribute("readonly", "")
    secret = await field.input_value()
    assert re.fullmatch(r"rdt_pat_[A-Za-z0-9_-]+", secret), "not a personal access token"
    assert await _status_with(live, secret) == 200, "the secret shown is not the token"

    row = _row(page, "token-row", "deploy script")
    await expect(row).to_have_attribute("data-status", "active")
    await expect(row).to_contain_text("127.0.0.0/8")

    # Closing the dialog forgets it: not in the page, its fields, storage or the URL.
    await shown.get_by_test_id("secret-done").click()
    await expect(shown).to_have_count(0)
    assert not await _page_shows(page, secret)
    await page.reload()
    await expect(row).to_be_visible()
    assert not await _page_shows(page, secret)

    # The activity view lists what the token did (the request above, from loopback).
    await row.get_by_test_id("token-activity").click()
    activity = page.get_by_test_id("token-activity-dialog")
    await expect(activity).to_be_visible()
    await expect(
        activity.get_by_test_id("token-usage-row").or_(activity.get_by_test_id("token-usage-empty"))
    ).not_to_have_count(0)
    await page.keyboard.press("Escape")
    await expect(activity).to_have_count(0)

    # Rotate with no grace: a new secret shown once, the old one dead at once.
    await row.get_by_test_id("token-rotate").click()
    rotate = page.get_by_test_id("token-rotate-dialog")
    await rotate.locator("input[name=token-grace]").fill("0")
    await rotate.get_by_test_id("token-rotate-submit").click()
    await expect(shown).to_be_visible()
    rotated = await shown.get_by_test_id("secret-value").input_value()
    assert rotated.startswith("rdt_pat_")
    assert rotated != secret
    assert await _status_with(live, secret) == 401, "the old token survived a 0-hour grace"
    assert await _status_with(live, rotated) == 200
    # Escape closes it as well as the button does, and forgets it the same.
    await page.keyboard.press("Escape")
    await expect(shown).to_have_count(0)
    assert not await _page_shows(page, rotated)

    # Revoke the new one, after the in-app confirmation.
    live_row = page.locator('[data-testid="token-row"][data-status="active"]')
    await expect(live_row).to_have_count(1)
    await live_row.get_by_test_id("token-revoke").click()
    await _confirm(page)
    await expect(page.get_by_test_id("tokens-notice")).to_contain_text("revoked")
    await expect(page.locator('[data-testid="token-row"][data-status="active"]')).to_have_count(0)
    assert await _status_with(live, rotated) == 401, "a revoked token still works"
    assert await audit_dom(page) == []


async def test_admin_sees_and_revokes_anyones_token(web: Web, live: LiveServer) -> None:
    admin = await live.api.create_user("boss", role=UserRole.ADMIN, login=False)
    bob = await live.api.create_user("bob")
    token = await live.api.create_token(bob, "messages:read", name="bob's <script>bot</script>")
    assert await _status_with(live, token.token) == 200

    page = await web.page(admin, "/admin/tokens")
    row = page.locator(f'[data-testid="admin-token-row"][data-token-id="{token.token_id}"]')
    await expect(row.get_by_test_id("token-owner")).to_have_text("bob")
    await expect(row.get_by_test_id("token-name")).to_have_text("bob's <script>bot</script>")
    assert not await _page_shows(page, token.token), "an admin must never see a secret"
    await row.get_by_test_id("admin-token-revoke").click()
    await _confirm(page)
    await expect(page.get_by_test_id("admin-tokens-notice")).to_contain_text("revoked")
    await expect(row).to_have_count(0)  # only live tokens are listed by default
    assert await _status_with(live, token.token) == 401


# --- incoming webhooks ----------------------------------------------------------------------


async def test_admin_creates_a_legacy_incoming_hook_and_is_warned(
    web: Web, live: LiveServer
) -> None:
    admin = await live.api.create_user("boss", role=UserRole.ADMIN)
    room = await live.api.room(admin, "deploys")
    page = await web.page(admin, "/admin/users")
    await page.get_by_role("link", name="Integrations").click()
    await expect(page).to_have_url(f"{live.origin}/admin/integrations")

    form = page.get_by_test_id("incoming-hooks")
    await form.locator("input[name=hook-name]").fill("Legacy CI")
    await form.locator("select[name=hook-room]").select_option(room)
    warning = page.get_by_test_id("hook-legacy-warning")
    await expect(warning).to_have_count(0)
    await form.locator("input[name=hook-legacy]").check()
    await expect(warning).to_be_visible()
    await expect(warning).to_have_attribute("role", "alert")
    await expect(warning).to_contain_text("secret in the URL")
    await form.locator("input[name=hook-legacy]").uncheck()
    await expect(warning).to_have_count(0)
    await form.locator("input[name=hook-legacy]").check()
    await form.get_by_test_id("hook-create").click()

    # The secret and the URL with its token, once, with the warning again.
    shown = page.get_by_test_id("secret-dialog")
    await expect(shown).to_be_visible()
    secret = await shown.get_by_test_id("secret-value").input_value()
    legacy_url = await shown.get_by_test_id("secret-value-extra").input_value()
    assert secret.startswith("rdt_whs_")
    assert legacy_url.startswith(f"{live.origin}{API}/hooks/")
    await expect(shown.get_by_test_id("secret-warning")).to_contain_text("secret in the URL")
    # The URL shown is the real one: a sender without signing can post through it.
    async with httpx.AsyncClient(timeout=10) as http:
        posted = await http.post(legacy_url, json={"text": "deployed through the legacy URL"})
    assert posted.status_code == 200, posted.text
    await shown.get_by_test_id("secret-done").click()
    await expect(shown).to_have_count(0)
    assert not await _page_shows(page, secret)
    assert not await _page_shows(page, legacy_url)

    row = _row(page, "incoming-hook", "Legacy CI")
    await expect(row.get_by_test_id("hook-legacy-tag")).to_be_visible()
    await expect(row.get_by_test_id("hook-status")).to_have_text("Enabled")

    # Disable it from the list: the server refuses the sender from then on.
    await row.get_by_test_id("hook-toggle").click()
    await expect(row.get_by_test_id("hook-status")).to_have_text("Disabled")
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.post(legacy_url, json={"text": "while disabled"})
    assert refused.status_code == 401

    # The audit log shows the change, filtered to webhooks, and exports the same.
    await page.get_by_role("link", name="Audit log").click()
    await page.locator("input[name=audit-action]").fill("hook.incoming.")
    await page.get_by_test_id("audit-apply").click()
    entries = page.get_by_test_id("audit-entry")
    await expect(entries.first).to_be_visible()
    for text in await entries.all_inner_texts():
        assert "hook.incoming." in text, text
    href = await page.get_by_test_id("audit-export-jsonl").get_attribute("href")
    assert href is not None
    assert "format=jsonl" in href
    assert "action=hook.incoming." in href
    export = await page.context.request.get(href)
    assert export.ok, export.status
    assert "attachment" in export.headers.get("content-disposition", "")
    lines = [json.loads(line) for line in (await export.text()).splitlines() if line.strip()]
    assert lines, "the export is empty"
    assert all(line["action"].startswith("hook.incoming.") for line in lines)
    assert secret not in await export.text()
    assert await audit_dom(page) == []


async def _hook_post(live: LiveServer, hook_id: str, secret: str, payload: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.origin, timeout=10) as http:
        return await http.post(f"{API}/hooks/{hook_id}", **signed_request(secret, payload))


async def _history(live: LiveServer, user: User, room: str) -> list[dict[str, Any]]:
    return list(await live.api.ok("GET", f"{API}/rooms/{room}/messages", user))


async def test_a_malicious_webhook_attachment_renders_as_inert_text(
    web: Web, live: LiveServer
) -> None:
    admin = await live.api.create_user("boss", role=UserRole.ADMIN)
    alice = await live.api.create_user("alice")
    room = await live.api.room(admin, "alerts", "channel", alice)
    created = await live.api.ok(
        "POST",
        f"{API}/admin/hooks/incoming",
        admin,
        json={"name": "Monitor", "room_id": room, "avatar_url": "", "legacy_url_token": False},
    )
    hook_id, secret = created["hook"]["id"], created["secret"]

    # The server refuses the payload outright: nothing is posted.
    refused = await _hook_post(live, hook_id, secret, {"attachments": [MALICIOUS_ATTACHMENT]})
    assert refused.status_code == 400, refused.text
    assert await _history(live, alice, room) == []

    # What it accepts: markup in the text fields (it is text), a safe link and colour.
    accepted_attachment = {
        **MALICIOUS_ATTACHMENT,
        "title_link": "https://example.com/alert/1",
        "color": "#36a64f",
    }
    safe_attachment: dict[str, Any] = {
        "title": "Runbook",
        "title_link": "https://example.com/runbook",
        "color": "#d4a017",
        "text": "All good",
        "author_name": None,
        "fields": [],
    }
    accepted = await _hook_post(
        live,
        hook_id,
        secret,
        {"text": "disk almost full", "attachments": [accepted_attachment, safe_attachment]},
    )
    assert accepted.status_code == 200, accepted.text
    message_id = accepted.json()["message_id"]

    # Plant the values the server refused into the stored row: the client must hold on
    # its own (a row from an older version, a bug in a check, a restored backup).
    stored = [{**MALICIOUS_ATTACHMENT}, safe_attachment]
    async with live.api.container.database.transaction("test") as txn:
        await txn.conn.execute(
            update(schema.messages)
            .where(schema.messages.c.id == int(message_id))
            .values(attachments=json.dumps(stored))
        )
    [served] = await _history(live, alice, room)
    assert served["attachments"][0]["title_link"] == "javascript:alert(1)", "the plant failed"

    page = await web.page(alice, f"/r/{room}")
    msg = message(page, message_id)
    await expect(msg).to_be_visible()
    cards = msg.get_by_test_id("rich-attachment")
    await expect(cards).to_have_count(2)
    bad, good = cards.nth(0), cards.nth(1)

    # Markup is text: the literal strings, and no element parsed out of them.
    await expect(bad.get_by_test_id("rich-attachment-title")).to_have_text(
        MALICIOUS_ATTACHMENT["title"]
    )
    await expect(bad.get_by_test_id("rich-attachment-text")).to_have_text(
        MALICIOUS_ATTACHMENT["text"]
    )
    await expect(bad.get_by_test_id("rich-attachment-author")).to_have_text(
        MALICIOUS_ATTACHMENT["author_name"]
    )
    await expect(bad.get_by_test_id("rich-attachment-field")).to_contain_text("<b>env</b>")
    assert await bad.locator("img, script, svg, iframe, b, style, a").count() == 0
    # No link, and no colour: neither a style attribute nor anything in the CSSOM.
    await expect(bad.get_by_test_id("rich-attachment-link")).to_have_count(0)
    assert await bad.get_attribute("data-color") is None
    style = await bad.evaluate(
        "el => ({ attr: el.getAttribute('style'), border: el.style.borderLeftColor,"
        " background: el.style.background, image: getComputedStyle(el).backgroundImage })"
    )
    assert style == {"attr": None, "border": "", "background": "", "image": "none"}, style
    # Clicking the would-be link does nothing.
    await bad.get_by_test_id("rich-attachment-title").click()
    await expect(page).to_have_url(f"{live.origin}/r/{room}")

    # The well-formed one keeps its link and colour (set through the CSSOM).
    link = good.get_by_test_id("rich-attachment-link")
    await expect(link).to_have_attribute("href", "https://example.com/runbook")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b.*\bnoreferrer\b"))
    border = await good.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert border == "rgb(212, 160, 23)", border

    # Nothing armed anywhere on the page (the tripwire checks nothing fired).
    assert await audit_dom(page) == []
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.__xss.length") == 0


# --- the doctor -----------------------------------------------------------------------------


async def test_doctor_lists_findings_by_severity_and_checks_again(
    web: Web, live: LiveServer
) -> None:
    admin = await live.api.create_user("boss", role=UserRole.ADMIN)
    room = await live.api.room(admin, "ops")
    # Something for it to find: a hook in legacy URL mode (and an admin without 2FA).
    await live.api.ok(
        "POST",
        f"{API}/admin/hooks/incoming",
        admin,
        json={"name": "Old <b>sender</b>", "room_id": room, "legacy_url_token": True},
    )
    page = await web.page(admin, "/admin/doctor")
    findings = page.get_by_test_id("doctor-finding")
    await expect(findings.first).to_be_visible()
    legacy = page.locator(
        '[data-testid="doctor-finding"][data-finding-id="incoming-hook-legacy-url-token"]'
    )
    await expect(legacy).to_have_count(1)
    await expect(legacy).to_contain_text("Old <b>sender</b>")  # the subject, as text
    assert await legacy.locator("b").count() == 0

    # Grouped: each group holds only its severity, most severe first.
    groups = page.get_by_test_id("doctor-group")
    severities = await groups.evaluate_all("gs => gs.map(g => g.dataset.severity)")
    order = {"high": 0, "medium": 1, "low": 2}
    assert severities == sorted(severities, key=lambda s: order.get(s, 3)), severities
    for severity in severities:
        group = page.locator(f'[data-testid="doctor-group"][data-severity="{severity}"]')
        inside = await group.get_by_test_id("doctor-finding").evaluate_all(
            "fs => fs.map(f => f.dataset.severity)"
        )
        assert inside, severity
        assert set(inside) == {severity}, (severity, inside)

    # Fixing it and checking again: the finding goes.
    hooks = await live.api.ok("GET", f"{API}/admin/hooks/incoming", admin)
    await live.api.ok(
        "PATCH",
        f"{API}/admin/hooks/incoming/{hooks[0]['id']}",
        admin,
        json={"legacy_url_token": False},
    )
    async with page.expect_response(lambda r: r.url.endswith(f"{API}/admin/doctor")) as answer:
        await page.get_by_test_id("doctor-recheck").click()
    assert (await answer.value).ok
    await expect(legacy).to_have_count(0)
    assert await audit_dom(page) == []


async def test_doctor_is_for_admins_only(web: Web, live: LiveServer) -> None:
    alice = await live.api.create_user("alice", login=False)
    page = await web.page(alice, "/admin/doctor")
    await expect(page.get_by_test_id("not-allowed")).to_be_visible()
    await expect(page.get_by_test_id("doctor")).to_have_count(0)
