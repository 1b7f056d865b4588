import { describe, expect, it } from "vitest";

import { checkBotForm, checkGrace, EMPTY_BOT_FORM } from "./bots";

const good = { ...EMPTY_BOT_FORM, username: "@Helper_Bot", ownerId: "12", roomIds: new Set(["5", "3"]) };

describe("checkBotForm", () => {
  it("builds the body", () => {
    expect(checkBotForm({ ...good, displayName: " Helper ", description: " Does things ", networks: "10.0.0.0/8\n::1" })).toEqual({
      ok: true,
      body: {
        username: "helper_bot",
        display_name: "Helper",
        description: "Does things",
        owner_id: "12",
        room_ids: ["3", "5"],
        networks: ["10.0.0.0/8", "::1"],
      },
    });
    const plain = checkBotForm(good);
    expect(plain.ok && "display_name" in plain.body).toBe(false);
    expect(plain.ok && "networks" in plain.body).toBe(false);
  });

  it("names the field in trouble", () => {
    expect(checkBotForm({ ...good, username: "x" })).toMatchObject({ ok: false, field: "username" });
    expect(checkBotForm({ ...good, username: "<script>" })).toMatchObject({ ok: false, field: "username" });
    expect(checkBotForm({ ...good, ownerId: "" })).toMatchObject({ ok: false, field: "owner" });
    expect(checkBotForm({ ...good, description: "d".repeat(513) })).toMatchObject({ ok: false, field: "description" });
    expect(checkBotForm({ ...good, networks: "nope" })).toMatchObject({ ok: false, field: "networks" });
  });
});

describe("checkGrace", () => {
  it("takes whole hours", () => {
    expect(checkGrace(" 24 ")).toEqual({ ok: true, hours: 24 });
    expect(checkGrace("0")).toEqual({ ok: true, hours: 0 });
    for (const bad of ["", "-1", "1.5", "abc", "9999999"]) expect(checkGrace(bad).ok).toBe(false);
  });
});
