"""The detectors themselves: a page that really is vulnerable trips every one of them.

Without this, a green XSS test could mean a broken tripwire. The planted page is served
on the test origin through request interception, without the client's CSP, and renders
payloads raw.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Route

from tests.browser.conftest import BROWSER, Web
from tests.browser.dom_audit import audit_dom
from tests.browser.ui import eventually

pytestmark = [BROWSER, pytest.mark.timeout(60)]

_PLANTED = """<!doctype html><meta charset="utf-8"><body>
<img src=x onerror="alert(7)">
<div data-testid="message-body"><svg></svg><p onclick="x()">y</p>
  <a href="javascript:alert(8)">link</a><img src="http://evil.test/9"></div>
<iframe srcdoc="<script>__xss.push(10)</script>"></iframe>
</body>"""


async def test_a_vulnerable_page_trips_every_detector(web: Web) -> None:
    page = await (await web.context()).new_page()

    async def planted(route: Route) -> None:
        await route.fulfill(body=_PLANTED, content_type="text/html")

    await page.route("**/planted", planted)
    await page.goto("/planted")
    wire = web.tripwire

    async def tripped() -> bool:
        return len(wire.xss) >= 2 and bool(wire.foreign_requests)

    await eventually(tripped, "the planted payloads to trip the wire")
    assert "alert(7)" in wire.xss
    assert "__xss.push(10)" in wire.xss
    assert any("evil.test/9" in r for r in wire.foreign_requests)

    findings = "\n".join(await audit_dom(page))
    for expected in (
        "handler attribute onerror",
        "handler attribute onclick",
        "unsafe link",
        "src off-origin",
        "forbidden element: <iframe",
        "element from content: <svg",
    ):
        assert expected in findings, f"the DOM audit missed {expected!r}:\n{findings}"

    # Expected hits, not a failure of this test: reset before the fixture checks.
    for found in (wire.xss, wire.foreign_requests, wire.csp, wire.page_errors, wire.dialogs):
        found.clear()
