import { describe, expect, it } from "vitest";

import { checkGraceHours, checkTokenForm, isLive, parseNetwork, parseNetworks, statusText, type TokenForm, type TokenPolicy } from "./tokens";

const policy: TokenPolicy = {
  scopes: [
    { scope: "messages:read", description: "Read" },
    { scope: "messages:write", description: "Write" },
    { scope: "admin", description: "Admin" },
  ],
  default_days: 30,
  max_days: 90,
  max_grace_hours: 72,
};

const form = (patch: Partial<TokenForm> = {}): TokenForm => ({
  name: "ci bot",
  scopes: new Set(["messages:read"]),
  restrictRooms: false,
  roomIds: new Set(),
  networks: "",
  days: "30",
  ...patch,
});

describe("parseNetwork", () => {
  it.each([
    "203.0.113.0/24",
    "10.0.0.1",
    "0.0.0.0/0",
    "255.255.255.255/32",
    "2001:db8::/32",
    "::1",
    "::",
    "::/0",
    "fe80::1/64",
    "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "::ffff:192.0.2.1",
    "2001:db8::192.0.2.1/128",
  ])("accepts %s", (n) => {
    expect(parseNetwork(n)).toBe(n);
  });

  it("trims", () => {
    expect(parseNetwork("  10.0.0.0/8 ")).toBe("10.0.0.0/8");
  });

  it.each([
    "",
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "10.0.0.256",
    "10.0.0",
    "10.0.0.0.0",
    "010.0.0.1x",
    "1.2.3.4/-1",
    "1.2.3.4/ 8",
    "example.com",
    "2001:db8::/129",
    "2001:db8:::1",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "g::1",
    "localhost",
    "*",
  ])("refuses %j", (n) => {
    expect(parseNetwork(n)).toBeNull();
  });
});

describe("parseNetworks", () => {
  it("reads one per line, skipping blanks and duplicates, and reports the bad ones", () => {
    expect(parseNetworks("10.0.0.0/8\n\n  192.168.1.0/24 \n10.0.0.0/8\nnope, 2001:db8::/32")).toEqual({
      networks: ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"],
      invalid: ["nope"],
    });
  });
});

describe("checkTokenForm", () => {
  it("builds the request body", () => {
    const checked = checkTokenForm(
      form({
        name: "  deploy  ",
        scopes: new Set(["messages:write", "messages:read", "bogus"]),
        restrictRooms: true,
        roomIds: new Set(["12"]),
        networks: "203.0.113.0/24\n",
        days: "7",
      }),
      policy,
    );
    expect(checked).toEqual({
      ok: true,
      body: {
        name: "deploy",
        scopes: ["messages:read", "messages:write"],
        room_ids: ["12"],
        networks: ["203.0.113.0/24"],
        expires_in_days: 7,
      },
    });
  });

  it("sends null for no room restriction and no address ranges", () => {
    const checked = checkTokenForm(form({ roomIds: new Set(["12"]) }), policy);
    expect(checked.ok && checked.body.room_ids).toBeNull();
    expect(checked.ok && checked.body.networks).toBeNull();
  });

  it.each<[Partial<TokenForm>, string]>([
    [{ name: "   " }, "name"],
    [{ name: "x".repeat(65) }, "name"],
    [{ scopes: new Set() }, "scopes"],
    [{ scopes: new Set(["not-a-scope"]) }, "scopes"],
    [{ restrictRooms: true, roomIds: new Set() }, "rooms"],
    [{ networks: "10.0.0.0/8\nbad" }, "networks"],
    [{ networks: Array.from({ length: 21 }, (_, i) => `10.0.${i}.0/24`).join("\n") }, "networks"],
    [{ days: "" }, "days"],
    [{ days: "0" }, "days"],
    [{ days: "-3" }, "days"],
    [{ days: "1.5" }, "days"],
    [{ days: "91" }, "days"],
    [{ days: "1e3" }, "days"],
  ])("refuses %j (field %s)", (patch, field) => {
    const checked = checkTokenForm(form(patch), policy);
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.field).toBe(field);
    expect(!checked.ok && checked.error.length).toBeGreaterThan(0);
  });

  it("allows no expiry only when the policy has no maximum", () => {
    expect(checkTokenForm(form({ days: "" }), policy).ok).toBe(false);
    const open = { ...policy, max_days: null };
    const checked = checkTokenForm(form({ days: "" }), open);
    // 0 is the server's "never"; null would be its default expiry.
    expect(checked.ok && checked.body.expires_in_days).toBe(0);
    const long = checkTokenForm(form({ days: "3650" }), open);
    expect(long.ok && long.body.expires_in_days).toBe(3650);
  });
});

describe("checkGraceHours", () => {
  it("takes 0 up to the policy's maximum", () => {
    expect(checkGraceHours("0", policy)).toEqual({ ok: true, body: 0 });
    expect(checkGraceHours(" 72 ", policy)).toEqual({ ok: true, body: 72 });
  });

  it.each(["73", "-1", "", "2.5", "abc"])("refuses %j", (h) => {
    expect(checkGraceHours(h, policy).ok).toBe(false);
  });
});

describe("status", () => {
  it("says what each status means and which tokens still work", () => {
    expect(statusText("grace")).toMatch(/grace/);
    expect(statusText("something-new")).toBe("something-new");
    expect(isLive({ status: "active" })).toBe(true);
    expect(isLive({ status: "grace" })).toBe(true);
    expect(isLive({ status: "expired" })).toBe(false);
    expect(isLive({ status: "revoked" })).toBe(false);
  });
});
