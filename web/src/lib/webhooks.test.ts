import { describe, expect, it } from "vitest";

import { checkIncomingForm, checkOutgoingForm, groupFindings, parseTriggerWords, type DoctorFinding } from "./webhooks";

describe("checkIncomingForm", () => {
  const ok = { name: " CI ", roomId: "12", avatarUrl: "", legacy: false };

  it("builds the body", () => {
    expect(checkIncomingForm(ok)).toEqual({
      ok: true,
      body: { name: "CI", room_id: "12", avatar_url: "", legacy_url_token: false },
    });
    const withAvatar = checkIncomingForm({ ...ok, avatarUrl: " https://cdn.example/ci.png ", legacy: true });
    expect(withAvatar.ok && withAvatar.body).toEqual({
      name: "CI",
      room_id: "12",
      avatar_url: "https://cdn.example/ci.png",
      legacy_url_token: true,
    });
  });

  it.each<[Partial<typeof ok>, string]>([
    [{ name: "" }, "name"],
    [{ name: "x".repeat(65) }, "name"],
    [{ roomId: "" }, "room"],
    [{ roomId: "abc" }, "room"],
    [{ avatarUrl: "http://cdn.example/ci.png" }, "avatar"],
    [{ avatarUrl: "javascript:alert(1)" }, "avatar"],
    [{ avatarUrl: "data:image/png;base64,AAAA" }, "avatar"],
    [{ avatarUrl: "//cdn.example/x.png" }, "avatar"],
    [{ avatarUrl: `https://cdn.example/${"a".repeat(600)}` }, "avatar"],
  ])("refuses %j", (patch, field) => {
    const checked = checkIncomingForm({ ...ok, ...patch });
    expect(!checked.ok && checked.field).toBe(field);
  });
});

describe("checkOutgoingForm", () => {
  const ok = {
    name: "deploys",
    url: "https://hooks.example/redoubt",
    roomIds: new Set(["3"]),
    events: new Set(["member.left", "message.posted"]),
    triggerWords: "deploy\n, ship ,deploy",
  };

  it("builds the body, events in a stable order, words deduplicated", () => {
    expect(checkOutgoingForm(ok)).toEqual({
      ok: true,
      body: {
        name: "deploys",
        url: "https://hooks.example/redoubt",
        room_ids: ["3"],
        events: ["message.posted", "member.left"],
        trigger_words: ["deploy", "ship"],
      },
    });
  });

  it.each<[Partial<typeof ok>, string]>([
    [{ name: " " }, "name"],
    [{ url: "" }, "url"],
    [{ url: "ftp://hooks.example/" }, "url"],
    [{ url: "javascript:alert(1)" }, "url"],
    [{ url: "hooks.example/x" }, "url"],
    [{ url: "https://hooks.example/a b" }, "url"],
    [{ roomIds: new Set() }, "rooms"],
    [{ events: new Set() }, "events"],
    [{ events: new Set(["room.deleted"]) }, "events"],
    [{ triggerWords: Array.from({ length: 21 }, (_, i) => `w${i}`).join("\n") }, "words"],
    [{ triggerWords: "x".repeat(33) }, "words"],
    [{ triggerWords: "two words" }, "words"],
    [{ roomIds: new Set(Array.from({ length: 51 }, (_, i) => String(i + 1))) }, "rooms"],
  ])("refuses %j", (patch, field) => {
    const checked = checkOutgoingForm({ ...ok, ...patch });
    expect(!checked.ok && checked.field).toBe(field);
  });
});

describe("parseTriggerWords", () => {
  it("splits on lines and commas", () => {
    expect(parseTriggerWords("")).toEqual([]);
    expect(parseTriggerWords(" a ,b\n\nc\na")).toEqual(["a", "b", "c"]);
  });
});

describe("groupFindings", () => {
  const f = (id: string, severity: string): DoctorFinding => ({ id, severity, title: id, advice: "", subject: null });

  it("groups by severity, most severe first, keeping the server's order inside", () => {
    const groups = groupFindings([f("a", "low"), f("b", "high"), f("c", "medium"), f("d", "high"), f("e", "weird")]);
    expect(groups.map((g) => g.severity)).toEqual(["high", "medium", "low", "weird"]);
    expect(groups[0]?.findings.map((x) => x.id)).toEqual(["b", "d"]);
  });

  it("is empty without findings", () => {
    expect(groupFindings([])).toEqual([]);
  });
});
