import { describe, expect, it } from "vitest";

import { loginPath, parseRoute, sanitizeNext } from "./router";

describe("parseRoute", () => {
  it("parses every screen", () => {
    expect(parseRoute("/", "")).toEqual({ name: "home" });
    expect(parseRoute("/login", "?next=%2Fr%2F12")).toEqual({ name: "login", next: "/r/12" });
    expect(parseRoute("/r/12", "")).toEqual({ name: "room", roomId: "12", messageId: null });
    expect(parseRoute("/r/12/", "")).toEqual({ name: "room", roomId: "12", messageId: null });
    expect(parseRoute("/r/12/m/345", "")).toEqual({ name: "room", roomId: "12", messageId: "345" });
    expect(parseRoute("/search", "?q=hello%20world")).toEqual({ name: "search", q: "hello world" });
    expect(parseRoute("/admin", "")).toEqual({ name: "admin", section: "users" });
    expect(parseRoute("/admin/rooms", "")).toEqual({ name: "admin", section: "rooms" });
    expect(parseRoute("/admin/audit", "")).toEqual({ name: "admin", section: "audit" });
    expect(parseRoute("/admin/security", "")).toEqual({ name: "admin", section: "security" });
    expect(parseRoute("/admin/integrations", "")).toEqual({ name: "admin", section: "integrations" });
    expect(parseRoute("/admin/tokens", "")).toEqual({ name: "admin", section: "tokens" });
    expect(parseRoute("/admin/doctor/", "")).toEqual({ name: "admin", section: "doctor" });
  });

  it("treats malformed ids and unknown paths as not found", () => {
    expect(parseRoute("/r/abc", "").name).toBe("not-found");
    expect(parseRoute("/r/12/m/", "").name).toBe("not-found");
    expect(parseRoute("/r/12/m/x", "").name).toBe("not-found");
    expect(parseRoute("/admin/secrets", "").name).toBe("not-found");
    expect(parseRoute("/nope", "").name).toBe("not-found");
  });
});

describe("sanitizeNext", () => {
  it("keeps same-site paths with their query", () => {
    expect(sanitizeNext("/r/1/m/2")).toBe("/r/1/m/2");
    expect(sanitizeNext("/search?q=a%20b")).toBe("/search?q=a%20b");
    expect(sanitizeNext("/admin/audit")).toBe("/admin/audit");
  });

  it.each([
    null,
    undefined,
    "",
    "r/1",
    "https://evil.example/",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    " /r/1",
    "/login",
    "/login?next=/r/1",
    "/" + "a".repeat(3000),
  ])("falls back to / for %j", (next) => {
    expect(sanitizeNext(next)).toBe("/");
  });

  it("builds login paths that carry a safe next only", () => {
    expect(loginPath("/r/5")).toBe("/login?next=%2Fr%2F5");
    expect(loginPath("/")).toBe("/login");
    expect(loginPath("//evil.example")).toBe("/login");
  });
});
