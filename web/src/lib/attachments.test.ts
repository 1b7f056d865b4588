import { describe, expect, it } from "vitest";

import { MAX_ATTACHMENTS, safeAttachments, safeColor, safeLink } from "./attachments";

describe("safeLink", () => {
  it.each([
    ["https://example.com/build/42", "https://example.com/build/42"],
    ["http://example.com", "http://example.com/"],
    ["HTTPS://Example.COM/a?b=c#d", "https://example.com/a?b=c#d"],
  ])("keeps %s", (input, expected) => {
    expect(safeLink(input)).toBe(expected);
  });

  it.each([
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u0001javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://example.com/",
    "//evil.example/",
    "/relative/path",
    "example.com",
    "https:evil.example",
    "https:/evil.example",
    "http:\\\\evil.example",
    "https://",
    " https://example.com",
    "https://example.com/ x",
    "",
    null,
    undefined,
    42,
    { href: "https://example.com" },
    `https://example.com/${"a".repeat(3000)}`,
  ])("refuses %j", (input) => {
    expect(safeLink(input)).toBeNull();
  });
});

describe("safeColor", () => {
  it.each(["#36a64f", "#FFFFFF", "#000000", "#aBcDeF"])("keeps %s", (c) => {
    expect(safeColor(c)).toBe(c);
  });

  it.each([
    "red",
    "red;background:url(x)",
    "#36a64f;background:url(https://evil.example/x)",
    "#36a64f ",
    " #36a64f",
    "#36a64",
    "#36a64f0",
    "#fff",
    "#36a64fzz",
    "rgb(0,0,0)",
    "var(--x)",
    "expression(alert(1))",
    "#36a64f\n",
    "good",
    "danger",
    "",
    null,
    123456,
  ])("refuses %j", (c) => {
    expect(safeColor(c)).toBeNull();
  });
});

describe("safeAttachments", () => {
  it("is empty for a message without any", () => {
    expect(safeAttachments(undefined)).toEqual([]);
    expect(safeAttachments(null)).toEqual([]);
    expect(safeAttachments([])).toEqual([]);
    expect(safeAttachments("nope")).toEqual([]);
    expect(safeAttachments({ title: "not a list" })).toEqual([]);
  });

  it("keeps the text as text and drops the unsafe link and colour", () => {
    const [a, ...rest] = safeAttachments([
      {
        title: "<img src=x onerror=alert(1)>",
        title_link: "javascript:alert(1)",
        text: "<b>bold</b> **not markdown**",
        color: "red;background:url(x)",
        author_name: "<script>alert(1)</script>",
        fields: [{ title: "<i>k</i>", value: "<u>v</u>", short: true }],
      },
    ]);
    expect(rest).toEqual([]);
    expect(a).toEqual({
      title: "<img src=x onerror=alert(1)>",
      link: null,
      text: "<b>bold</b> **not markdown**",
      color: null,
      author: "<script>alert(1)</script>",
      fields: [{ title: "<i>k</i>", value: "<u>v</u>", short: true }],
    });
  });

  it("keeps a safe link and colour", () => {
    const [a] = safeAttachments([
      { title: "Build 42", title_link: "https://ci.example/42", text: null, color: "#36a64f", author_name: null, fields: [] },
    ]);
    expect(a?.link).toBe("https://ci.example/42");
    expect(a?.color).toBe("#36a64f");
  });

  it("skips malformed entries and fields, and what has nothing to show", () => {
    const list = safeAttachments([
      null,
      "text",
      7,
      { title: 5, text: { nested: true }, fields: "x" },
      { title: "", text: "", fields: [] },
      { text: "ok", fields: [null, "x", { title: 1, value: 2 }, { title: "k", value: "v", short: "yes" }] },
    ]);
    expect(list).toHaveLength(1);
    expect(list[0]?.text).toBe("ok");
    expect(list[0]?.fields).toEqual([{ title: "k", value: "v", short: false }]);
  });

  it("caps how many it shows", () => {
    const many = Array.from({ length: MAX_ATTACHMENTS + 5 }, (_, i) => ({ text: `a${i}` }));
    expect(safeAttachments(many)).toHaveLength(MAX_ATTACHMENTS);
  });
});
