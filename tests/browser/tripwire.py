"""The XSS tripwire: whatever ran, loaded or popped up in a browser context gets recorded.

Installed into every frame of a context before any page script runs:

- ``alert``/``confirm``/``prompt``/``print`` are replaced by traps that push to
  ``window.__xss`` (and report to Python through a binding, so hits survive navigation);
- ``securitypolicyviolation`` events go to ``window.__csp`` (and to Python);

and on the Python side: dialogs (recorded, dismissed), requests and WebSockets to any
origin but the test server's, uncaught page errors, and console errors (kept for failure
messages only: a failed 401 fetch logs one, and that is not a fault).
"""

from __future__ import annotations

__all__ = ["Tripwire"]

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, ConsoleMessage, Dialog, Page, Request, WebSocket

_BINDING = "__tripwireReport"

# Runs in every frame (main, iframes, srcdoc, popups) before the page's own scripts.
_INIT_SCRIPT = """
(() => {
  const report = (kind, detail) => {
    try { window.__tripwireReport(kind, String(detail)); } catch (_) { /* binding gone */ }
  };
  const pin = (name, value) =>
    Object.defineProperty(window, name, { value, writable: false, configurable: false });
  const hits = [];
  pin("__xss", hits);
  const push = hits.push.bind(hits);
  hits.push = (...items) => {
    report("xss", "__xss.push(" + items.join(",") + ")");
    return push(...items);
  };
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const trap = (...args) => {
      const call = name + "(" + args.map(String).join(",") + ")";
      push(call);
      report("xss", call);
    };
    trap.__tripwire = true;
    pin(name, trap);
  }
  const violations = [];
  pin("__csp", violations);
  document.addEventListener("securitypolicyviolation", (e) => {
    const line =
      e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " " + (e.sample || "");
    violations.push(line);
    report("csp", line);
  }, true);
})();
"""

_TRIPWIRE_INTACT = """() =>
  Array.isArray(window.__xss) && window.alert.__tripwire === true && Array.isArray(window.__csp)
"""


@dataclass
class Tripwire:
    """Everything suspicious seen in the contexts it watches."""

    origin: str  # "http://127.0.0.1:PORT"
    xss: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    async def watch(self, context: BrowserContext) -> None:
        """Arm ``context``: call before it opens any page."""
        await context.expose_binding(_BINDING, self._on_report)
        await context.add_init_script(_INIT_SCRIPT)
        context.on("request", self._on_request)
        context.on("page", self._on_page)

    def _on_report(self, _source: object, kind: str, detail: str) -> None:
        (self.xss if kind == "xss" else self.csp).append(detail)

    def _on_page(self, page: Page) -> None:
        self.pages.append(page)
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("console", self._on_console)
        page.on("websocket", self._on_websocket)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _on_request(self, request: Request) -> None:
        if not self._is_ours(request.url):
            self.foreign_requests.append(f"{request.method} {request.url}")

    def _on_websocket(self, ws: WebSocket) -> None:
        ours = self.origin.replace("http", "ws", 1)
        if not ws.url.startswith(ours + "/"):
            self.foreign_requests.append(f"WebSocket {ws.url}")

    def _is_ours(self, url: str) -> bool:
        scheme = urlsplit(url).scheme
        if scheme == "data":  # inline assets; content data: URLs are caught by the DOM audit
            return True
        if scheme == "blob":  # blob:http://host:port/uuid belongs to that origin
            url = url[len("blob:") :]
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    async def check_pages_intact(self) -> None:
        """Fail if content managed to replace the traps (clobbering or a reassignment)."""
        for page in self.pages:
            if page.is_closed():
                continue
            intact = await page.evaluate(_TRIPWIRE_INTACT)
            assert intact, f"the XSS tripwire was tampered with on {page.url}"

    def problems(self, *, allow_csp_violations: bool = False) -> list[str]:
        found = [f"script ran: {hit}" for hit in self.xss]
        found += [f"dialog: {d}" for d in self.dialogs]
        found += [f"foreign request: {r}" for r in self.foreign_requests]
        found += [f"page error: {e}" for e in self.page_errors]
        if not allow_csp_violations:
            found += [f"CSP violation: {v}" for v in self.csp]
        return found

    def assert_clean(self, *, allow_csp_violations: bool = False) -> None:
        found = self.problems(allow_csp_violations=allow_csp_violations)
        if found:
            shown = "\n  ".join(found[:40])
            console = "\n  ".join(self.console_errors[:20])
            raise AssertionError(
                f"{len(found)} problem(s) in the browser:\n  {shown}\n"
                f"console errors:\n  {console or '(none)'}"
            )
