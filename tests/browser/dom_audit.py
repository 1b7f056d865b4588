"""A structural check of the rendered page: would anything here run or phone home?

The tripwire catches an attack that fired; this catches one that is armed but has not
fired yet (a ``javascript:`` link nobody clicked, an ``onmouseover`` nobody hovered, a
stylesheet that failed to load). It reports what it finds instead of asserting, so one
scroll position's findings can be merged with the next.
"""

from __future__ import annotations

__all__ = ["CONTENT_TEST_IDS", "ROW_TEST_IDS", "TEXT_TEST_IDS", "audit_dom"]

from playwright.async_api import Page

# Where user-controlled text shows up: elements holding nothing but that text...
TEXT_TEST_IDS = (
    "message-body",
    "message-author",
    "room-name",
    "room-title",
    "room-topic",
    "typing",
    "me",
    "bot-alert-text",
)
# ...and rows that mix it with the app's own controls (which may carry icons).
ROW_TEST_IDS = (
    "member",
    "attachment",
    "thread-message",
    "search-result",
    "admin-user",
    "admin-room",
    "audit-entry",
    "inline-keyboard",
    "reply-keyboard",
    "command-list",
    "bot-toast",
    "bot-row",
)
CONTENT_TEST_IDS = TEXT_TEST_IDS + ROW_TEST_IDS

_AUDIT = """
([textIds, rowIds]) => {
  const problems = [];
  const origin = location.origin;
  const describe = (el) => {
    const html = el.outerHTML || String(el);
    return html.length > 160 ? html.slice(0, 160) + "..." : html;
  };
  const sameOrigin = (raw) => {
    try { return new URL(raw, location.href).origin === origin; } catch (_) { return false; }
  };
  const safeLink = (raw) => {
    let url;
    try { url = new URL(raw, location.href); } catch (_) { return false; }
    return ["http:", "https:", "mailto:"].includes(url.protocol);
  };
  const all = Array.from(document.querySelectorAll("*"));
  const dangerousAttributes =
    ["srcdoc", "formaction", "xlink:href", "ping", "background", "dynsrc", "lowsrc"];
  const foreignBodies = "iframe, frame, frameset, object, embed, applet, base, portal";

  // Anywhere: no inline handlers, no frames or plugins, no base, no refresh, no inline script.
  for (const el of all) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) problems.push("handler attribute " + name + ": " + describe(el));
      if (dangerousAttributes.includes(name))
        problems.push("dangerous attribute " + name + ": " + describe(el));
    }
  }
  for (const el of document.querySelectorAll(foreignBodies))
    problems.push("forbidden element: " + describe(el));
  for (const el of document.querySelectorAll("meta[http-equiv]"))
    problems.push("meta http-equiv: " + describe(el));
  for (const el of document.querySelectorAll("script")) {
    if (!el.src || !sameOrigin(el.src) || el.textContent.trim())
      problems.push("script not from our origin: " + describe(el));
  }
  for (const el of document.querySelectorAll("link[href]")) {
    if (!sameOrigin(el.href)) problems.push("link to another origin: " + describe(el));
  }

  // Links go to the web or mail, never to script or data.
  for (const el of document.querySelectorAll("a[href], area[href]")) {
    if (!safeLink(el.getAttribute("href"))) problems.push("unsafe link: " + describe(el));
  }
  // Whatever loads, loads from us.
  for (const el of document.querySelectorAll("[src], [srcset], [poster], [data]")) {
    for (const name of ["src", "poster", "data"]) {
      const value = el.getAttribute(name);
      if (value !== null && !sameOrigin(value))
        problems.push(name + " off-origin: " + describe(el));
    }
    if (el.hasAttribute("srcset")) problems.push("srcset: " + describe(el));
  }
  for (const el of document.querySelectorAll("form[action]")) {
    if (!sameOrigin(el.getAttribute("action")))
      problems.push("form to another origin: " + describe(el));
  }

  // Inside content: only what a sanitised markdown document may hold.
  const forbiddenInContent =
    "script, style, svg, math, template, noscript, link, meta, form, input, button, textarea, " +
    "select, option, video, audio, source, track, picture, dialog, details, marquee, xmp, " +
    "listing, noembed, noframes, title, object, embed, iframe";
  for (const body of document.querySelectorAll('[data-testid="message-body"]')) {
    for (const el of body.querySelectorAll(forbiddenInContent))
      problems.push("element from content: " + describe(el));
    for (const el of body.querySelectorAll("[style]")) {
      const style = el.getAttribute("style").replace(/\\s+/g, "");
      if (!/^(text-align:(left|right|center);?)?$/.test(style))
        problems.push("style attribute from content: " + describe(el));
    }
    // DOM clobbering: ids and names that shadow document or window properties.
    for (const el of body.querySelectorAll("[id], [name]")) {
      for (const value of [el.getAttribute("id"), el.getAttribute("name")]) {
        const shadows = value !== null &&
          (value in document || value in HTMLFormElement.prototype || value.startsWith("__"));
        if (shadows) problems.push("clobbering name " + value + ": " + describe(el));
      }
    }
  }
  const check = (ids, forbidden) => {
    const selector = ids.map((id) => '[data-testid="' + id + '"]').join(", ");
    for (const box of document.querySelectorAll(selector)) {
      for (const el of box.querySelectorAll(forbidden))
        problems.push("element inside " + box.dataset.testid + ": " + describe(el));
    }
  };
  check(textIds, "script, style, svg, math, base, iframe, object, embed, template, form");
  check(rowIds, "script, style, math, base, iframe, object, embed, template");
  return problems;
}
"""


async def audit_dom(page: Page) -> list[str]:
    """Everything on ``page`` that user content should never have produced."""
    problems: list[str] = await page.evaluate(_AUDIT, [TEXT_TEST_IDS, ROW_TEST_IDS])
    return problems
