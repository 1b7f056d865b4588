import { describe, expect, it } from "vitest";

import { checkBotForm, checkBotLimit, checkGrace, checkOwnBotForm, EMPTY_BOT_FORM, moderatedRooms } from "./bots";
import type { RoomView } from "./types";

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

describe("users' own bots", () => {
  it("builds the body without an owner", () => {
    const { ownerId: _o, ...form } = good;
    expect(checkOwnBotForm({ ...form, description: " Mine " })).toEqual({
      ok: true,
      body: { username: "helper_bot", description: "Mine", room_ids: ["3", "5"] },
    });
    expect(checkOwnBotForm({ ...form, username: "x" })).toMatchObject({ ok: false, field: "username" });
  });

  it("offers only rooms the user owns or moderates", () => {
    const room = (id: string, name: string, kind: RoomView["kind"] = "channel", archived = false) =>
      ({ id, name, kind, archived }) as RoomView;
    const read = { room_id: "", last_read_position: 0, unread_count: 0, mention_count: 0 };
    const rooms = moderatedRooms([
      { room: room("1", "zeta"), role: "owner", read },
      { room: room("2", "alpha", "private"), role: "moderator", read },
      { room: room("3", "member-only"), role: "member", read },
      { room: room("4", "dm", "dm"), role: "owner", read },
      { room: room("5", "old", "channel", true), role: "owner", read },
    ]);
    expect(rooms.map((r) => r.id)).toEqual(["2", "1"]);
  });

  it("checks the admin's limit", () => {
    expect(checkBotLimit(" 5 ")).toEqual({ ok: true, limit: 5 });
    expect(checkBotLimit("0")).toEqual({ ok: true, limit: 0 });
    expect(checkBotLimit("1001")).toMatchObject({ ok: false });
    expect(checkBotLimit("-1")).toMatchObject({ ok: false });
    expect(checkBotLimit("2.5")).toMatchObject({ ok: false });
  });
});
