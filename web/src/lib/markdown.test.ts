import { h, render } from "preact";
import { act } from "preact/test-utils";
import { describe, expect, it } from "vitest";

import { MessageText } from "../ui/MessageText";
import { renderMarkdown } from "./markdown";

// ---------------------------------------------------------------------------------
// Helpers

/** Renders into a detached <div> so tests can query the result. */
function renderTo(text: string, options?: Parameters<typeof renderMarkdown>[1]): HTMLDivElement {
  const host = document.createElement("div");
  host.append(renderMarkdown(text, options));
  return host;
}

const origin = window.location.origin;
const LINK_REL = "noopener noreferrer nofollow";
const UPLOAD_PATH = /^\/api\/v1\/files\/[0-9]{1,20}$/;

const ALLOWED_TAGS = new Set([
  "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "span", "img", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
  "table", "thead", "tbody", "tr", "th", "td",
]);
const ALLOWED_ATTRIBUTES: Record<string, readonly string[]> = {
  a: ["href", "title", "rel", "target"],
  img: ["src", "alt", "title"],
  code: ["class"],
  span: ["class", "data-mention"],
  ol: ["start"],
};
const FORBIDDEN_TAGS = [
  "script", "iframe", "object", "embed", "svg", "math", "style", "form", "input",
  "button", "textarea", "select", "link", "meta", "base", "frame", "frameset",
  "template", "noscript", "video", "audio", "source", "details", "div", "body",
];

/** The invariants every rendering must satisfy, whatever the input. */
function assertSafe(host: HTMLElement): void {
  for (const tag of FORBIDDEN_TAGS) {
    expect(host.querySelector(tag), `<${tag}> must not survive`).toBeNull();
  }
  for (const el of Array.from(host.querySelectorAll("*"))) {
    const tag = el.localName;
    expect(ALLOWED_TAGS.has(tag), `unexpected <${tag}>`).toBe(true);
    expect(el.namespaceURI).toBe("http://www.w3.org/1999/xhtml");
    for (const attr of Array.from(el.attributes)) {
      expect(attr.name.startsWith("on"), `event handler ${attr.name}`).toBe(false);
      expect(["style", "id", "name"]).not.toContain(attr.name);
      expect(ALLOWED_ATTRIBUTES[tag] ?? [], `<${tag} ${attr.name}>`).toContain(attr.name);
    }
  }
  for (const a of Array.from(host.querySelectorAll("a"))) {
    const href = a.getAttribute("href");
    expect(href, "every remaining <a> links somewhere").not.toBeNull();
    const url = new URL(href ?? "");
    expect(["http:", "https:", "mailto:"]).toContain(url.protocol);
    expect(a.getAttribute("rel")).toBe(LINK_REL);
    expect(a.getAttribute("target")).toBe("_blank");
  }
  for (const img of Array.from(host.querySelectorAll("img"))) {
    const url = new URL(img.getAttribute("src") ?? "");
    expect(url.origin).toBe(origin);
    expect(url.pathname).toMatch(UPLOAD_PATH);
    expect(url.search + url.hash).toBe("");
  }
  for (const code of Array.from(host.querySelectorAll("code[class]"))) {
    expect(code.getAttribute("class")).toMatch(/^language-[a-z0-9_+-]{1,32}$/);
  }
  for (const span of Array.from(host.querySelectorAll("span"))) {
    expect(span.getAttribute("class")).toMatch(/^mention( mention-self)?$/);
    expect(span.getAttribute("data-mention")).toMatch(/^[a-z0-9][a-z0-9._-]{1,31}$/);
  }
}

// ---------------------------------------------------------------------------------
// Markdown features

describe("markdown features", () => {
  it("renders emphasis, strike-through and inline code", () => {
    const host = renderTo("**bold** *italic* _also_ ~~gone~~ `x < y`");
    expect(host.querySelector("strong")?.textContent).toBe("bold");
    expect(Array.from(host.querySelectorAll("em"), (e) => e.textContent)).toEqual([
      "italic",
      "also",
    ]);
    expect(host.querySelector("s")?.textContent).toBe("gone");
    expect(host.querySelector("code")?.textContent).toBe("x < y");
  });

  it("renders fenced code with a language class and keeps its text verbatim", () => {
    const host = renderTo("```python\nif a < b and c > d:\n    print('<b>hi</b>')\n```");
    const code = host.querySelector("pre > code");
    expect(code?.getAttribute("class")).toBe("language-python");
    expect(code?.textContent).toBe("if a < b and c > d:\n    print('<b>hi</b>')\n");
    expect(host.querySelector("b")).toBeNull();
  });

  it("drops a language class that isn't a plain identifier", () => {
    for (const info of ['"><script>', "Java Script", "a{b}", "x".repeat(40)]) {
      const code = renderTo("```" + info + "\ncode\n```").querySelector("pre > code");
      expect(code?.textContent).toBe("code\n");
      if (code?.hasAttribute("class")) {
        expect(code.getAttribute("class")).toMatch(/^language-[a-z0-9_+-]{1,32}$/);
      }
    }
  });

  it("renders indented code blocks", () => {
    const host = renderTo("text\n\n    indented <i>\n");
    expect(host.querySelector("pre > code")?.textContent).toBe("indented <i>\n");
  });

  it("renders block quotes, lists, headings, rules and tables", () => {
    const host = renderTo(
      [
        "> quoted **text**",
        "",
        "- one",
        "- two",
        "",
        "3. three",
        "4. four",
        "",
        "## Heading",
        "",
        "---",
        "",
        "| left | right |",
        "|:-----|------:|",
        "| 1    | 2     |",
      ].join("\n"),
    );
    expect(host.querySelector("blockquote strong")?.textContent).toBe("text");
    expect(Array.from(host.querySelectorAll("ul > li"), (li) => li.textContent)).toEqual([
      "one",
      "two",
    ]);
    expect(host.querySelector("ol")?.getAttribute("start")).toBe("3");
    expect(host.querySelector("h2")?.textContent).toBe("Heading");
    expect(host.querySelector("hr")).not.toBeNull();
    expect(host.querySelector("table thead th")?.textContent).toBe("left");
    expect(host.querySelector("table tbody td:last-child")?.textContent).toBe("2");
    // Column alignment comes as a style attribute, which never survives.
    expect(host.querySelector("[style]")).toBeNull();
    assertSafe(host);
  });

  it("turns single newlines into line breaks", () => {
    const host = renderTo("first\nsecond");
    expect(host.querySelector("p > br")).not.toBeNull();
    expect(host.textContent).toContain("first");
    expect(host.textContent).toContain("second");
  });

  it("renders links with rel and target, and a normalized href", () => {
    const host = renderTo('[docs](HTTPS://Example.COM/a%20b "The docs")');
    const a = host.querySelector("a");
    expect(a?.getAttribute("href")).toBe("https://example.com/a%20b");
    expect(a?.getAttribute("title")).toBe("The docs");
    expect(a?.getAttribute("rel")).toBe(LINK_REL);
    expect(a?.getAttribute("target")).toBe("_blank");
    expect(a?.textContent).toBe("docs");
  });

  it("links autolinks, bare URLs and e-mail addresses", () => {
    const host = renderTo("<https://a.example> and http://b.example/x?y=1 and me@c.example");
    expect(Array.from(host.querySelectorAll("a"), (a) => a.getAttribute("href"))).toEqual([
      "https://a.example/",
      "http://b.example/x?y=1",
      "mailto:me@c.example",
    ]);
    assertSafe(host);
  });

  it("resolves reference-style links", () => {
    const host = renderTo("see [the site][s]\n\n[s]: https://example.com/site");
    expect(host.querySelector("a")?.getAttribute("href")).toBe("https://example.com/site");
  });

  it("shows raw HTML as text", () => {
    const host = renderTo("<b>not bold</b> <i>nor italic</i>");
    expect(host.querySelector("b, i")).toBeNull();
    expect(host.textContent).toBe("<b>not bold</b> <i>nor italic</i>");
  });

  it("replaces emoji shortcodes, but not in code or inside words", () => {
    const host = renderTo(":smile: :tada: :thumbsup: `:smile:` :not_an_emoji:");
    expect(host.textContent).toBe("😄 🎉 👍 :smile: :not_an_emoji:");
  });

  it("leaves ASCII emoticons alone", () => {
    expect(renderTo("ok :) see C:/tmp 8) :P").textContent).toBe("ok :) see C:/tmp 8) :P");
  });

  it("shows images stored on this server", () => {
    const host = renderTo(`![cat](/api/v1/files/42) ![dog](${origin}/api/v1/files/7)`);
    const images = Array.from(host.querySelectorAll("img"));
    expect(images.map((img) => img.getAttribute("src"))).toEqual([
      `${origin}/api/v1/files/42`,
      `${origin}/api/v1/files/7`,
    ]);
    expect(images.map((img) => img.getAttribute("alt"))).toEqual(["cat", "dog"]);
  });

  it("shows any other image as its alt text", () => {
    const host = renderTo("before ![a *remote* <b>pic</b>](https://evil.example/p.png) after");
    expect(host.querySelector("img")).toBeNull();
    expect(host.querySelector("b")).toBeNull();
    expect(host.textContent).toBe("before a remote <b>pic</b> after");
  });
});

// ---------------------------------------------------------------------------------
// Mentions

describe("mentions", () => {
  const mentions = (host: HTMLElement): string[] =>
    Array.from(host.querySelectorAll("span.mention"), (s) => s.getAttribute("data-mention") ?? "");

  it("marks @username with a span", () => {
    const span = renderTo("hi @alice!").querySelector("span");
    expect(span?.className).toBe("mention");
    expect(span?.getAttribute("data-mention")).toBe("alice");
    expect(span?.textContent).toBe("@alice");
  });

  it("marks the viewer and @here/@all as mention-self", () => {
    const host = renderTo("@bob @alice @here @all", { selfName: "bob" });
    expect(Array.from(host.querySelectorAll("span"), (s) => s.className)).toEqual([
      "mention mention-self",
      "mention",
      "mention mention-self",
      "mention mention-self",
    ]);
  });

  it("accepts dots, underscores and dashes, and any case", () => {
    const host = renderTo("@j.doe @a_b @x-y @Bob");
    expect(mentions(host)).toEqual(["j.doe", "a_b", "x-y", "bob"]);
    expect(host.querySelectorAll("span")[3]?.textContent).toBe("@Bob");
  });

  it("leaves trailing sentence punctuation outside the mention", () => {
    const host = renderTo("thanks @bob. and @carol...");
    expect(mentions(host)).toEqual(["bob", "carol"]);
    expect(host.textContent).toBe("thanks @bob. and @carol...");
  });

  it("only marks known names when a name list is given", () => {
    const names = new Set(["bob", "dave_"]);
    const host = renderTo("@bob @mallory @here @dave_ @bob_", { mentionNames: names });
    expect(mentions(host)).toEqual(["bob", "here", "dave_", "bob"]);
    expect(host.textContent).toBe("@bob @mallory @here @dave_ @bob_");
  });

  it("works inside emphasis and lists", () => {
    expect(mentions(renderTo("**@bob** _@carol_\n\n- @dave"))).toEqual(["bob", "carol", "dave"]);
  });

  it("does not fire in code spans or code blocks", () => {
    expect(mentions(renderTo("`@bob` and\n\n```\n@carol\n```\n\n    @dave"))).toEqual([]);
  });

  it("does not fire in e-mail addresses, URLs or link text", () => {
    const host = renderTo(
      "a@b.example bob@example.com https://x.example/@carol [ask @dave](https://x.example) <mailto:eve@x.example>",
    );
    expect(mentions(host)).toEqual([]);
    expect(host.querySelectorAll("a")).toHaveLength(5);
  });

  it("does not fire when glued to a word, path or another @", () => {
    expect(mentions(renderTo("foo@bar x/@bob @@carol .@dave +@erin"))).toEqual([]);
  });

  it("does not fire for names too short or too long, or followed by word characters", () => {
    expect(mentions(renderTo(`@a @${"x".repeat(33)} @bobé`))).toEqual([]);
  });

  it("does not treat look-alike letters as ASCII", () => {
    // U+212A KELVIN SIGN would case-fold to "k" under a case-insensitive regex.
    expect(mentions(renderTo("@\u212Aate"))).toEqual([]);
  });

  it("keeps image alt text intact", () => {
    const host = renderTo("![@bob](https://evil.example/x.png)");
    expect(mentions(host)).toEqual([]);
    expect(host.textContent).toBe("@bob");
  });
});

// ---------------------------------------------------------------------------------
// Security table

interface HostileCase {
  name: string;
  input: string;
  /** Exact number of links / images expected to survive (default: not checked). */
  links?: number;
  images?: number;
  /** Text the reader must still see. */
  shows?: string;
}

const JS = "javascript:alert(1)";

const HOSTILE: readonly HostileCase[] = [
  // Raw HTML: always shown as text, never as markup.
  { name: "script tag", input: "<script>alert(1)</script>", shows: "<script>alert(1)</script>" },
  { name: "img onerror", input: "<img src=x onerror=alert(1)>", images: 0 },
  { name: "svg onload", input: "<svg onload=alert(1)>" },
  { name: "svg with script", input: "<svg><script>alert(1)</script></svg>" },
  { name: "svg link", input: '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>' },
  { name: "math xlink", input: '<math><mi xlink:href="javascript:alert(1)">x</mi></math>' },
  { name: "math href", input: '<math href="javascript:alert(1)">x</math>', links: 0 },
  { name: "iframe js", input: '<iframe src="javascript:alert(1)"></iframe>' },
  { name: "iframe srcdoc", input: '<iframe srcdoc="<script>alert(1)</script>"></iframe>' },
  { name: "style tag", input: "<style>body{display:none}</style>" },
  { name: "raw anchor js", input: '<a href="javascript:alert(1)">x</a>', links: 0 },
  // The tag stays text; only the URL inside it is linkified.
  { name: "raw anchor ok", input: '<a href="https://ok.example">x</a>', shows: "<a href=" },
  { name: "raw anchor entity", input: '<a href="&#x6A;avascript:alert(1)">x</a>', links: 0 },
  { name: "onclick attr", input: '<a href="https://ok.example" onclick="alert(1)">x</a>' },
  { name: "css url", input: '<div style="background:url(javascript:alert(1))">x</div>' },
  { name: "css overlay", input: '<p style="position:fixed;inset:0">overlay</p>' },
  { name: "form clobber", input: '<form name="getElementById"><input name="x"></form>' },
  { name: "id clobber", input: '<img name="cookie" id="location">', images: 0 },
  { name: "div id", input: '<div id="app">clobber</div>' },
  { name: "object", input: '<object data="javascript:alert(1)"></object>' },
  { name: "embed", input: '<embed src="javascript:alert(1)">' },
  { name: "base", input: '<base href="https://evil.example/">' },
  { name: "meta refresh", input: '<meta http-equiv="refresh" content="0;url=https://evil.example">' },
  { name: "stylesheet", input: "<link rel=stylesheet href=https://evil.example/x.css>" },
  { name: "details ontoggle", input: "<details open ontoggle=alert(1)>" },
  { name: "body onload", input: "<body onload=alert(1)>" },
  { name: "template", input: "<template><script>alert(1)</script></template>" },
  { name: "noscript mXSS", input: '<noscript><p title="</noscript><img src=x onerror=alert(1)>">' },
  { name: "comment", input: "<!--<img src=x onerror=alert(1)>-->" },
  { name: "split script", input: "<scr<script>ipt>alert(1)</script>" },
  { name: "nested brackets", input: "<<script>script>alert(1)<</script>/script>" },
  { name: "input autofocus", input: "<input autofocus onfocus=alert(1)>" },
  { name: "button formaction", input: "<button formaction=javascript:alert(1)>x</button>" },
  { name: "textarea", input: "<textarea><script>alert(1)</script></textarea>" },
  { name: "unknown tag", input: "<x-foo onclick=alert(1)>hi</x-foo>" },
  { name: "raw upload img", input: '<img src="/api/v1/files/1" onerror="alert(1)">', images: 0 },
  { name: "escaped entities", input: "&lt;script&gt;alert(1)&lt;/script&gt;", shows: "<script>" },
  { name: "numeric entities", input: "&#60;script&#62;alert(1)&#60;/script&#62;", shows: "<script>" },
  // Markdown links to dangerous schemes.
  { name: "md js link", input: `[x](${JS})`, links: 0 },
  { name: "md js upper", input: "[x](JAVASCRIPT:alert(1))", links: 0 },
  { name: "md js mixed", input: "[x](JaVaScRiPt:alert(1))", links: 0 },
  { name: "md js leading space", input: "[x](   javascript:alert(1))", links: 0 },
  { name: "md js angle dest", input: "[x](<javascript:alert(1)>)", links: 0 },
  { name: "md js raw tab", input: "[x](java\tscript:alert(1))", links: 0 },
  { name: "md js newline", input: "[x](java\nscript:alert(1))", links: 0 },
  { name: "md js entity tab", input: "[x](java&#09;script:alert(1))", links: 0 },
  { name: "md js entity nl", input: "[x](java&#10;script:alert(1))", links: 0 },
  { name: "md js &colon;", input: "[x](javascript&colon;alert(1))", links: 0 },
  { name: "md js &#58;", input: "[x](javascript&#58;alert(1))", links: 0 },
  { name: "md js &#x3A;", input: "[x](javascript&#x3A;alert(1))", links: 0 },
  { name: "md js &#106;", input: "[x](&#106;avascript:alert(1))", links: 0 },
  { name: "md js percent", input: "[x](%6Aavascript:alert(1))", links: 0 },
  { name: "md js encoded body", input: "[x](javascript:alert%281%29)", links: 0 },
  { name: "md js NUL", input: "[x](\u0000javascript:alert(1))", links: 0 },
  { name: "md js control", input: "[x](\u0001javascript:alert(1))", links: 0 },
  { name: "md js zero width", input: "[x](java\u200Bscript:alert(1))", links: 0 },
  { name: "md js leading zwsp", input: "[x](\u200Bjavascript:alert(1))", links: 0 },
  { name: "md js bidi", input: "[x](\u202Ejavascript:alert(1))", links: 0 },
  { name: "md js backslash", input: "[x](javascript\\:alert(1))", links: 0 },
  { name: "md vbscript", input: "[x](vbscript:msgbox(1))", links: 0 },
  { name: "md data html", input: "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", links: 0 },
  { name: "md data image", input: "[x](data:image/png;base64,iVBORw0KGgo=)", links: 0 },
  { name: "md file", input: "[x](file:///etc/passwd)", links: 0 },
  { name: "md ftp", input: "[x](ftp://evil.example/x)", links: 0 },
  { name: "md tel", input: "[x](tel:+123)", links: 0 },
  { name: "md blob", input: "[x](blob:https://evil.example/uuid)", shows: "[x](blob:" },
  { name: "md intent", input: "[x](intent://x#Intent;end)", links: 0 },
  { name: "md protocol-relative", input: "[x](//evil.example)", links: 0 },
  { name: "md backslash host", input: "[x](/\\evil.example)", links: 0 },
  { name: "md double backslash", input: "[x](\\\\evil.example)", links: 0 },
  { name: "md relative path", input: "[x](/r/1)", links: 0, shows: "x" },
  { name: "md relative upload", input: "[x](/api/v1/files/1)", links: 0 },
  { name: "md bare word", input: "[x](relative)", links: 0 },
  { name: "md fragment", input: "[x](#top)", links: 0 },
  { name: "md query", input: "[x](?q=1)", links: 0 },
  { name: "md title breakout", input: '[x](https://ok.example "t\\" onmouseover=alert(1) x=\\"")', links: 1 },
  { name: "md quote in url", input: '[x](https://ok.example/"onmouseover="alert(1))', links: 1 },
  { name: "md trailing attrs", input: "[x](https://ok.example){onclick=alert(1)}", links: 1 },
  { name: "md mailto smuggle", input: "[x](mailto:javascript:alert(1))" },
  { name: "md bold js", input: `**[x](${JS})**`, links: 0 },
  { name: "md nested link", input: `[[x](${JS})](https://ok.example)`, links: 1 },
  { name: "md image in js link", input: `[![x](https://evil.example/x.png)](${JS})`, links: 0, images: 0 },
  // Reference-style links.
  { name: "ref js", input: `[x][r]\n\n[r]: ${JS}`, links: 0 },
  { name: "ref js angle", input: "[x][r]\n\n[r]: <javascript:alert(1)>", links: 0 },
  { name: "ref shortcut data", input: "[r]\n\n[r]: data:text/html,<script>alert(1)</script>", links: 0 },
  { name: "ref collapsed vbscript", input: "[r][]\n\n[r]: vbscript:msgbox(1)", links: 0 },
  { name: "ref remote image", input: "![x][r]\n\n[r]: https://evil.example/x.png", images: 0, shows: "x" },
  // Autolinks and linkify.
  { name: "autolink js", input: "<javascript:alert(1)>", links: 0 },
  { name: "autolink js upper", input: "<JAVASCRIPT:alert(1)>", links: 0 },
  { name: "autolink vbscript", input: "<vbscript:msgbox(1)>", links: 0 },
  { name: "autolink data", input: "<data:text/html,<script>alert(1)</script>>", links: 0 },
  { name: "autolink file", input: "<file:///etc/passwd>", links: 0 },
  { name: "bare js", input: "javascript:alert(1)", links: 0 },
  { name: "bare protocol-relative", input: "see //evil.example/x", links: 0 },
  { name: "linkify angle", input: "https://ok.example/<script>alert(1)</script>", links: 1 },
  { name: "bare image url", input: "https://evil.example/x.png", links: 1, images: 0 },
  // Images.
  { name: "remote image", input: "![x](http://evil.example/x.png)", images: 0, shows: "x" },
  { name: "https remote image", input: "![x](https://evil.example/x.png)", images: 0 },
  { name: "foreign upload path", input: "![x](https://evil.example/api/v1/files/1)", images: 0 },
  { name: "protocol-relative upload", input: "![x](//evil.example/api/v1/files/1)", images: 0 },
  { name: "backslash upload", input: "![x](/\\evil.example/api/v1/files/1)", images: 0 },
  { name: "upload with query", input: "![x](/api/v1/files/1?x=1)", images: 0 },
  { name: "upload with hash", input: "![x](/api/v1/files/1#x)", images: 0 },
  { name: "upload non-digit", input: "![x](/api/v1/files/abc)", images: 0 },
  { name: "upload traversal", input: "![x](/api/v1/files/1/../../../admin)", images: 0 },
  { name: "upload encoded traversal", input: "![x](/api/v1/files/%2e%2e/x)", images: 0 },
  { name: "upload too long", input: `![x](/api/v1/files/${"9".repeat(21)})`, images: 0 },
  { name: "upload credentials", input: `![x](http://u:p@${window.location.host}/api/v1/files/1)`, images: 0 },
  { name: "data image", input: "![x](data:image/png;base64,iVBORw0KGgo=)", images: 0 },
  { name: "js image", input: `![x](${JS})`, images: 0 },
  { name: "alt breakout", input: '![x" onerror="alert(1)](/api/v1/files/1)', images: 1 },
  { name: "alt with html", input: "![<img src=x onerror=alert(1)>](https://evil.example/x.png)", images: 0 },
  { name: "image title", input: '![x](/api/v1/files/1 "t\\" onload=\\"alert(1)")', images: 1 },
  // Code, tables, quotes, lists: markup inside is still text.
  { name: "code span", input: "`<script>alert(1)</script>`", shows: "<script>alert(1)</script>" },
  { name: "fence html", input: "```html\n<script>alert(1)</script>\n```", shows: "<script>" },
  { name: "fence info breakout", input: '```"><script>alert(1)</script>\nx\n```' },
  { name: "fence info attrs", input: "```js onclick=alert(1)\nx\n```" },
  { name: "table cell", input: "| a |\n|---|\n| <script>alert(1)</script> |" },
  { name: "table js link", input: `| a |\n|---|\n| [x](${JS}) |`, links: 0 },
  { name: "quote iframe", input: "> <iframe src=//evil.example>" },
  { name: "list img", input: "- <img src=x onerror=alert(1)>", images: 0 },
  { name: "heading script", input: "# <script>alert(1)</script>" },
  // Mentions and emoji next to hostile markup.
  { name: "mention + img", input: "@bob<img src=x onerror=alert(1)>", images: 0 },
  { name: "mention quote", input: '@bob" onmouseover="alert(1)' },
  { name: "emoji + script", input: ":smile:<script>alert(1)</script>" },
  { name: "link + style", input: "[x](https://ok.example)<style>*{}</style>", links: 1 },
  // Unicode tricks.
  { name: "rtl override text", input: "\u202Etxt.exe [x](https://ok.example/\u202Egpj.exe)", links: 1 },
  { name: "zero width in tag", input: "<scr\u200Bipt>alert(1)</scr\u200Bipt>" },
  { name: "fullwidth brackets", input: "＜script＞alert(1)＜/script＞" },
  { name: "homoglyph scheme", input: "[x](јavascript:alert(1))", links: 0 },
  { name: "BOM", input: "\uFEFF<script>alert(1)</script>" },
  // Malformed and pathological markdown.
  { name: "unclosed link", input: `[x](${JS}` },
  { name: "unbalanced brackets", input: "[".repeat(2000) + "x" + "](https://ok.example)" },
  { name: "deep quotes", input: ">".repeat(500) + " <script>x</script>" },
  { name: "deep lists", input: Array.from({ length: 200 }, (_, i) => " ".repeat(i * 2) + "- x").join("\n") },
  { name: "many emphasis", input: "*_".repeat(3000) + "x" },
  { name: "huge backticks", input: "`".repeat(5000) },
];

describe("security table", () => {
  it("has at least 80 cases with unique names", () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(80);
    expect(new Set(HOSTILE.map((c) => c.name)).size).toBe(HOSTILE.length);
  });

  it.each(HOSTILE)("$name", ({ input, links, images, shows }) => {
    const host = renderTo(input);
    assertSafe(host);
    if (links !== undefined) expect(host.querySelectorAll("a")).toHaveLength(links);
    if (images !== undefined) expect(host.querySelectorAll("img")).toHaveLength(images);
    if (shows !== undefined) expect(host.textContent).toContain(shows);
  });
});

describe("link and image URL policy", () => {
  it("never lets a rejected link's URL reach the DOM", () => {
    const host = renderTo(`[click me](${JS}) and [here](//evil.example/p)`);
    expect(host.textContent).toBe(`[click me](${JS}) and [here](//evil.example/p)`);
    expect(host.querySelector("[href]")).toBeNull();
  });

  it("keeps the text of a link whose href is dropped after sanitizing", () => {
    // Passes markdown-it's validateLink (an upload path may be an image) but is not a
    // valid link, so the sanitizer hook removes the href and the text remains.
    const host = renderTo("[the **file**](/api/v1/files/3)");
    expect(host.querySelector("a")).toBeNull();
    expect(host.querySelector("strong")?.textContent).toBe("file");
    expect(host.textContent).toBe("the file");
  });
});

// ---------------------------------------------------------------------------------
// Cache and component

describe("caching", () => {
  it("returns a fresh fragment each time", () => {
    const first = renderMarkdown("**cached**");
    const second = renderMarkdown("**cached**");
    expect(first).not.toBe(second);
    first.querySelector("strong")?.append(" mutated");
    expect(renderTo("**cached**").textContent).toBe("cached");
  });

  it("keys on the viewer and the name list", () => {
    expect(renderTo("@bob", { selfName: "bob" }).querySelector(".mention-self")).not.toBeNull();
    expect(renderTo("@bob", { selfName: "carol" }).querySelector(".mention-self")).toBeNull();
    expect(renderTo("@bob", { mentionNames: new Set() }).querySelector(".mention")).toBeNull();
    expect(renderTo("@bob", { mentionNames: new Set(["bob"]) }).querySelector(".mention")).not.toBeNull();
  });
});

describe("MessageText", () => {
  it("renders sanitized markup and re-renders when the text changes", () => {
    const container = document.createElement("div");
    act(() => render(h(MessageText, { text: "**hi** <script>x</script>" }), container));
    const body = container.querySelector('[data-testid="message-body"]');
    expect(body?.className).toBe("message-text");
    expect(body?.querySelector("strong")?.textContent).toBe("hi");
    expect(body?.querySelector("script")).toBeNull();
    expect(body?.textContent).toBe("hi <script>x</script>");

    act(() => render(h(MessageText, { text: "@bob", selfName: "bob" }), container));
    expect(body?.querySelector("span.mention-self")?.textContent).toBe("@bob");
    expect(body?.querySelector("strong")).toBeNull();
    act(() => render(null, container));
  });
});
