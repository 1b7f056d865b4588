import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { MessageAttachments } from "./MessageAttachments";

let root: HTMLDivElement;

beforeEach(() => {
  root = document.createElement("div");
  document.body.append(root);
});

afterEach(() => {
  act(() => render(null, root));
  root.remove();
});

function show(attachments: unknown) {
  act(() => render(<MessageAttachments attachments={attachments} />, root));
  return root;
}

const MALICIOUS = {
  title: "<img src=x onerror=alert(1)>",
  title_link: "javascript:alert(1)",
  text: "<script>alert(2)</script> **bold** [x](javascript:alert(3))",
  color: "red;background:url(x)",
  author_name: "<svg onload=alert(4)>",
  fields: [{ title: "<b>k</b>", value: "<iframe src=javascript:alert(5)>", short: true }],
};

describe("MessageAttachments", () => {
  it("renders nothing for a message without attachments", () => {
    show(undefined);
    expect(root.childNodes).toHaveLength(0);
    show([]);
    expect(root.childNodes).toHaveLength(0);
  });

  it("renders a malicious attachment as inert text: no markup, no link, no colour", () => {
    show([MALICIOUS]);
    const card = root.querySelector<HTMLElement>('[data-testid="rich-attachment"]');
    expect(card).not.toBeNull();
    // Only the component's own elements: nothing parsed out of the strings.
    expect(root.querySelectorAll("img, script, svg, iframe, b, strong, a, style")).toHaveLength(0);
    expect(root.querySelector('[data-testid="rich-attachment-title"]')?.textContent).toBe(MALICIOUS.title);
    expect(root.querySelector('[data-testid="rich-attachment-text"]')?.textContent).toBe(MALICIOUS.text);
    expect(root.querySelector('[data-testid="rich-attachment-author"]')?.textContent).toBe(MALICIOUS.author_name);
    expect(root.querySelector("dt")?.textContent).toBe("<b>k</b>");
    expect(root.querySelector("dd")?.textContent).toBe("<iframe src=javascript:alert(5)>");
    // No colour at all: neither through the CSSOM nor as an attribute.
    expect(card?.style.borderLeftColor).toBe("");
    expect(card?.style.background).toBe("");
    expect(card?.hasAttribute("data-color")).toBe(false);
    for (const el of root.querySelectorAll("*")) {
      for (const attr of Array.from(el.attributes)) {
        expect(attr.name.startsWith("on")).toBe(false);
        expect(attr.value).not.toMatch(/javascript:|alert\(/);
      }
    }
  });

  it("links an http(s) title safely and colours the border through the CSSOM", () => {
    show([{ ...MALICIOUS, title: "Build 42", title_link: "https://ci.example/42", color: "#36a64f" }]);
    const link = root.querySelector<HTMLAnchorElement>('[data-testid="rich-attachment-link"]');
    expect(link?.getAttribute("href")).toBe("https://ci.example/42");
    expect(link?.target).toBe("_blank");
    expect(link?.rel.split(" ")).toEqual(expect.arrayContaining(["noopener", "noreferrer"]));
    expect(link?.textContent).toBe("Build 42");
    const card = root.querySelector<HTMLElement>('[data-testid="rich-attachment"]');
    expect(card?.style.borderLeftColor).toMatch(/^(#36a64f|rgb\(54, 166, 79\))$/);
  });

  it("drops the colour again when an edit makes it unsafe", () => {
    show([{ text: "x", color: "#36a64f", fields: [] }]);
    show([{ text: "x", color: "blue", fields: [] }]);
    const card = root.querySelector<HTMLElement>('[data-testid="rich-attachment"]');
    expect(card?.style.borderLeftColor).toBe("");
  });
});
