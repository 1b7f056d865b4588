import { describe, expect, it } from "vitest";

import { MessageIndex } from "./messageIndex";
import { type Action, type AppState, initialState, reduce, roomLabel } from "./store";
import { alice, message, room } from "./testdata";
import type { StoredEvent } from "./types";

function run(state: AppState, ...actions: Action[]): AppState {
  return actions.reduce(reduce, state);
}

const read = (roomId: string, last = 0) => ({
  room_id: roomId,
  last_read_position: last,
  unread_count: 0,
  mention_count: 0,
});

function signedInWithRoom(): AppState {
  return run(
    initialState,
    { type: "signed-in", me: alice },
    { type: "rooms-loaded", memberships: [{ room: room("10"), role: "member", read: read("10", 5) }] },
  );
}

function ev(seq: number, event: Omit<StoredEvent, "seq">): Action {
  return { type: "event", event: { seq, ...event } as StoredEvent };
}

function ids(state: AppState, roomId = "10"): readonly string[] {
  return state.timelines.get(roomId)?.index.ids ?? [];
}

describe("MessageIndex", () => {
  it("keeps messages sorted by position whatever the arrival order", () => {
    const index = new MessageIndex();
    for (const [id, pos] of [[3, 30], [1, 10], [4, 40], [2, 20]] as const) index.upsert(message(id, pos), 0);
    expect(index.ids).toEqual(["1", "2", "3", "4"]);
    index.merge([message(0, 5), message(-1, 4)].reverse(), 0);
    expect(index.ids).toEqual(["-1", "0", "1", "2", "3", "4"]);
  });

  it("does not let an older REST answer overwrite a newer event", () => {
    const index = new MessageIndex();
    index.upsert(message(1, 10, { text: "edited" }), 50);
    expect(index.upsert(message(1, 10, { text: "original" }), 40, true)).toBe(false);
    expect(index.get("1")?.text).toBe("edited");
    index.upsert(message(1, 10, { text: "fresher" }), 60, true);
    expect(index.get("1")?.text).toBe("fresher");
  });

  it("handles 10,000 messages quickly", () => {
    const index = new MessageIndex();
    const start = performance.now();
    for (let page = 199; page >= 0; page--) {
      index.merge(Array.from({ length: 50 }, (_, i) => message(page * 50 + i, page * 50 + i)), 0);
    }
    for (let i = 0; i < 1000; i++) index.upsert(message(20_000 + i, 20_000 + i), i);
    expect(index.size).toBe(11_000);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe("reduce: history and messages", () => {
  it("loads the newest page and appends live messages once", () => {
    let s = run(signedInWithRoom(), { type: "timeline-reset", roomId: "10" }, {
      type: "history-loaded",
      roomId: "10",
      kind: "latest",
      messages: [message(1, 10), message(2, 20)],
      limit: 50,
      seq: 100,
    });
    expect(s.timelines.get("10")?.reachedStart).toBe(true);
    s = run(s, ev(101, { type: "message.created", data: message(3, 30) }), ev(102, { type: "message.created", data: message(3, 30) }));
    expect(ids(s)).toEqual(["1", "2", "3"]);
  });

  it("prepends older pages and notices the room's start", () => {
    let s = run(signedInWithRoom(), { type: "timeline-reset", roomId: "10" }, {
      type: "history-loaded",
      roomId: "10",
      kind: "latest",
      messages: [message(3, 30), message(4, 40)],
      limit: 2,
      seq: 0,
    });
    expect(s.timelines.get("10")?.reachedStart).toBe(false);
    s = run(s, { type: "history-loaded", roomId: "10", kind: "older", messages: [message(1, 10)], limit: 2, seq: 0 });
    expect(ids(s)).toEqual(["1", "3", "4"]);
    expect(s.timelines.get("10")?.reachedStart).toBe(true);
  });

  it("doesn't append live messages past a gap (window opened around a link)", () => {
    let s = run(signedInWithRoom(), { type: "timeline-reset", roomId: "10" }, {
      type: "history-loaded",
      roomId: "10",
      kind: "around",
      messages: [message(1, 10), message(2, 20)],
      limit: 50,
      seq: 0,
    });
    s = run(s, ev(5, { type: "message.created", data: message(9, 90) }));
    expect(ids(s)).toEqual(["1", "2"]);
    s = run(s, { type: "history-loaded", roomId: "10", kind: "newer", messages: [message(9, 90)], limit: 50, seq: 5 });
    expect(ids(s)).toEqual(["1", "2", "9"]);
    expect(s.timelines.get("10")?.reachedEnd).toBe(true);
  });

  it("applies edits, deletions and reactions, and files replies under their thread", () => {
    let s = run(signedInWithRoom(), { type: "timeline-reset", roomId: "10" }, {
      type: "history-loaded",
      roomId: "10",
      kind: "latest",
      messages: [message(1, 10)],
      limit: 50,
      seq: 0,
    });
    s = run(
      s,
      ev(1, { type: "message.updated", data: message(1, 10, { text: "edited", edited_at: "2025-01-02T00:00:00Z" }) }),
      ev(2, {
        type: "reaction.added",
        data: { message: message(1, 10, { text: "edited", reactions: [{ emoji: "👍", user_ids: ["1"] }] }), user_id: "1", emoji: "👍" },
      }),
      ev(3, { type: "message.created", data: message(2, 20, { thread_id: "1" }) }),
    );
    const index = s.timelines.get("10")?.index;
    expect(index?.get("1")?.text).toBe("edited");
    expect(index?.get("1")?.reactions).toHaveLength(1);
    expect(ids(s)).toEqual(["1"]);
    expect(s.threads.get("1")?.index.ids).toEqual(["2"]);
    s = run(s, ev(4, { type: "message.deleted", data: message(1, 10, { deleted: true, text: "" }) }));
    expect(s.timelines.get("10")?.index.get("1")?.deleted).toBe(true);
  });
});

describe("reduce: rooms, counts and users", () => {
  it("counts unread messages and mentions from others only", () => {
    let s = signedInWithRoom();
    s = run(
      s,
      ev(1, { type: "message.created", data: message(1, 10) }),
      ev(2, { type: "message.created", data: message(2, 11, { mentions: ["1"] }) }),
      ev(3, { type: "message.created", data: message(3, 12, { author_id: "1" }) }),
      ev(4, { type: "message.created", data: message(4, 3) }),
    );
    expect(s.rooms?.get("10")?.read).toMatchObject({ unread_count: 2, mention_count: 1 });
    s = run(s, ev(5, { type: "read.updated", data: { ...read("10", 12) } }));
    expect(s.rooms?.get("10")?.read).toMatchObject({ unread_count: 0, mention_count: 0 });
  });

  it("adds a room when we are added and drops it when we are removed", () => {
    let s = signedInWithRoom();
    s = run(s, ev(1, { type: "room.member_added", data: { room: room("11"), user_id: "1", role: "member", read: read("11") } }));
    expect([...(s.rooms?.keys() ?? [])]).toEqual(["10", "11"]);
    s = run(s, { type: "timeline-reset", roomId: "11" });
    s = run(s, ev(2, { type: "room.member_removed", data: { room: room("11"), user_id: "1" } }));
    expect(s.rooms?.has("11")).toBe(false);
    expect(s.timelines.has("11")).toBe(false);
  });

  it("tracks other members and room changes", () => {
    let s = run(signedInWithRoom(), { type: "members-loaded", roomId: "10", members: [{ user_id: "1", role: "member" }] });
    s = run(s, ev(1, { type: "room.member_added", data: { room: room("10", { member_count: 3 }), user_id: "7", role: "member", read: read("10") } }));
    expect(s.members.get("10")?.map((m) => m.user_id)).toEqual(["1", "7"]);
    expect(s.rooms?.get("10")?.room.member_count).toBe(3);
    s = run(s, ev(2, { type: "room.member_removed", data: { room: room("10"), user_id: "7" } }));
    expect(s.members.get("10")?.map((m) => m.user_id)).toEqual(["1"]);
    s = run(s, ev(3, { type: "room.updated", data: { room: room("10", { topic: "new topic", archived: true }) } }));
    expect(s.rooms?.get("10")?.room).toMatchObject({ topic: "new topic", archived: true });
  });

  it("updates users, and signs out when our account is deactivated or every session ends", () => {
    let s = run(signedInWithRoom(), ev(1, { type: "user.updated", data: { ...alice, id: "2", username: "bob", display_name: "Bob" } }));
    expect(s.users.get("2")?.display_name).toBe("Bob");
    expect(run(s, ev(2, { type: "user.updated", data: { ...alice, is_active: false } })).me).toBeNull();
    expect(run(s, ev(2, { type: "session.ended", data: { session_id: "x", reason: "logout" } })).me).not.toBeNull();
    const ended = run(s, ev(2, { type: "session.ended", data: { session_id: null, reason: "password" } }));
    expect(ended.me).toBeNull();
    expect(ended.signedOutRemotely).toBe(true);
  });

  it("names DMs after the other participants", () => {
    const s = run(signedInWithRoom(), { type: "users-loaded", users: [{ id: "2", username: "bob", display_name: "Bob", role: "user" }] });
    expect(roomLabel(room("12", { kind: "dm", name: null, dm_user_ids: ["1", "2"] }), s)).toBe("Bob");
  });

  it("shows typing until it expires, never our own", () => {
    let s = run(signedInWithRoom(), { type: "typing", roomId: "10", userId: "2", until: 1000 }, { type: "typing", roomId: "10", userId: "1", until: 1000 });
    expect([...(s.typing.get("10")?.keys() ?? [])]).toEqual(["2"]);
    s = run(s, { type: "typing-expired", now: 1001 });
    expect(s.typing.has("10")).toBe(false);
  });
});
