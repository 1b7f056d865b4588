// The rendering rule (docs/web-client.md, threat T12), checked on the source: no code
// hands a string to an HTML sink. (The page's Trusted Types policy would refuse it in
// the browser too; this catches it before anyone runs the page.)
import { describe, expect, it } from "vitest";

// Every source file of the client as text (Vite's raw import), tests excluded.
const SOURCES: Record<string, string> = import.meta.glob(["../**/*.{ts,tsx}", "!../**/*.test.{ts,tsx}"], {
  query: "?raw",
  import: "default",
  eager: true,
});

const SINKS = [
  /\.innerHTML\s*[+]?=/,
  /\.outerHTML\s*[+]?=/,
  /dangerouslySetInnerHTML/,
  /insertAdjacentHTML/,
  /document\.write/,
  /createContextualFragment/,
  /\.setHTMLUnsafe\(|parseHTMLUnsafe/,
  /new\s+Function\s*\(|\beval\s*\(/,
  /\.setAttribute\(\s*["']style["']/,
];

describe("HTML sinks", () => {
  it("finds the sources", () => {
    expect(Object.keys(SOURCES).length).toBeGreaterThan(20);
    expect(Object.keys(SOURCES)).toContain("../ui/MessageAttachments.tsx");
  });

  it.each(Object.entries(SOURCES))("%s uses none", (_name, code) => {
    for (const sink of SINKS) expect(code).not.toMatch(sink);
  });
});
