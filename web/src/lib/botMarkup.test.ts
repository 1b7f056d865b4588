import { describe, expect, it } from "vitest";

import { activeReplyKeyboard, inlineKeyboard, label, MAX_COLUMNS, MAX_LABEL, MAX_ROWS, replyKeyboard } from "./botMarkup";
import { message } from "./testdata";
import type { MessageView } from "./types";

const ME = "1";
const BOT = "9";

describe("inlineKeyboard", () => {
  it("is empty for anything that isn't a keyboard", () => {
    for (const raw of [undefined, null, "x", 3, {}, { inline_keyboard: [] }, [[]], ["row"], [[null, 1, "b"]]]) {
      expect(inlineKeyboard(raw)).toEqual([]);
    }
  });

  it("keeps callback and http(s) buttons with their positions", () => {
    const rows = inlineKeyboard([
      [
        { text: "One", kind: "callback", url: null },
        { text: "Site", kind: "url", url: "https://example.org/a?b=c" },
      ],
      [{ text: "Two", kind: "callback", url: null }],
    ]);
    expect(rows).toEqual([
      [
        { text: "One", fullText: "One", kind: "callback", url: null, row: 0, column: 0 },
        { text: "Site", fullText: "Site", kind: "url", url: "https://example.org/a?b=c", row: 0, column: 1 },
      ],
      [{ text: "Two", fullText: "Two", kind: "callback", url: null, row: 1, column: 0 }],
    ]);
  });

  it.each([
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative",
    "https:\\\\evil.example",
    "tg://resolve?domain=x",
    "",
    null,
    42,
  ])("makes a url button with %j inert", (url) => {
    const [row] = inlineKeyboard([[{ text: "Click", kind: "url", url }]]);
    expect(row).toEqual([{ text: "Click", fullText: "Click", kind: "inert", url: null, row: 0, column: 0 }]);
  });

  it("drops malformed buttons but keeps the positions of the others", () => {
    const rows = inlineKeyboard([
      "not a row",
      [{ text: "", kind: "callback" }, { kind: "callback" }, { text: "ok", kind: "callback" }, { text: "x", kind: "pay" }],
    ]);
    expect(rows).toEqual([[{ text: "ok", fullText: "ok", kind: "callback", url: null, row: 1, column: 2 }]]);
  });

  it("keeps markup in labels as text, without controls or bidi overrides", () => {
    const [row] = inlineKeyboard([[{ text: "<img src=x onerror=alert(1)>\u202e\u0000", kind: "callback", url: null }]]);
    expect(row?.[0]?.text).toBe("<img src=x onerror=alert(1)>");
  });

  it("cuts long labels and bounds the keyboard", () => {
    const long = "x".repeat(500);
    const rows = inlineKeyboard(
      Array.from({ length: MAX_ROWS + 5 }, () => Array.from({ length: MAX_COLUMNS + 3 }, () => ({ text: long, kind: "callback" }))),
    );
    expect(rows).toHaveLength(MAX_ROWS);
    expect(rows[0]).toHaveLength(MAX_COLUMNS);
    expect(Array.from(rows[0]?.[0]?.text ?? "")).toHaveLength(MAX_LABEL);
    expect(rows[0]?.[0]?.text.endsWith("…")).toBe(true);
    expect(rows[0]?.[0]?.fullText).toHaveLength(500);
  });
});

describe("label", () => {
  it("cuts by code point, not UTF-16 unit", () => {
    expect(label("😀".repeat(10), 4)).toBe("😀😀😀…");
    expect(label("   ")).toBeNull();
    expect(label({})).toBeNull();
  });
});

describe("replyKeyboard", () => {
  it("is null for anything that isn't one", () => {
    for (const raw of [undefined, null, "x", [], 1]) expect(replyKeyboard(raw)).toBeNull();
  });

  it("keeps string labels only, and only true flags", () => {
    expect(
      replyKeyboard({
        keyboard: [["Yes", 3, null, "No"], "row", [], [{ text: "obj" }]],
        one_time: "yes",
        placeholder: "<b>Pick</b>",
        force_reply: 1,
        remove: false,
      }),
    ).toEqual({ keyboard: [["Yes", "No"]], one_time: false, placeholder: "<b>Pick</b>", force_reply: false, remove: false });
  });
});

function fromBot(id: number, position: number, reply_keyboard: unknown): MessageView {
  return message(id, position, { author_id: BOT, reply_keyboard: reply_keyboard as MessageView["reply_keyboard"] });
}
const kb = (keyboard: string[][], extra: Partial<Record<string, unknown>> = {}) => ({
  keyboard,
  one_time: false,
  placeholder: null,
  force_reply: false,
  remove: false,
  ...extra,
});
const mine = (id: number, position: number) => message(id, position, { author_id: ME });

describe("activeReplyKeyboard", () => {
  it("is the newest keyboard a bot sent, through later plain messages", () => {
    const messages = [fromBot(1, 1, kb([["Old"]])), fromBot(2, 2, kb([["A", "B"]])), fromBot(3, 3, null), mine(4, 4)];
    expect(activeReplyKeyboard(messages, ME)).toEqual({ messageId: "2", authorId: BOT, keyboard: kb([["A", "B"]]) });
  });

  it("is gone after a remove", () => {
    expect(activeReplyKeyboard([fromBot(1, 1, kb([["A"]])), fromBot(2, 2, kb([], { remove: true }))], ME)).toBeNull();
  });

  it("hides a one-time keyboard once the user answered", () => {
    const once = fromBot(1, 1, kb([["A"]], { one_time: true }));
    expect(activeReplyKeyboard([once], ME)?.messageId).toBe("1");
    expect(activeReplyKeyboard([once, mine(2, 2)], ME)).toBeNull();
    // A keyboard that isn't one-time stays.
    expect(activeReplyKeyboard([fromBot(1, 1, kb([["A"]])), mine(2, 2)], ME)?.messageId).toBe("1");
  });

  it("gives a force-reply until the user answers", () => {
    const force = fromBot(1, 1, kb([], { force_reply: true, placeholder: "Your name" }));
    expect(activeReplyKeyboard([force], ME)?.keyboard).toMatchObject({ force_reply: true, placeholder: "Your name" });
    expect(activeReplyKeyboard([force, mine(2, 2)], ME)).toBeNull();
  });

  it("ignores deleted messages, the user's own and malformed keyboards", () => {
    const deleted = message(2, 2, { author_id: BOT, deleted: true, reply_keyboard: kb([["X"]]) });
    const own = message(3, 3, { author_id: ME, reply_keyboard: kb([["Y"]]) });
    const broken = fromBot(4, 4, "nope");
    expect(activeReplyKeyboard([fromBot(1, 1, kb([["A"]])), deleted, own, broken], ME)?.messageId).toBe("1");
  });

  it("shows nothing for an empty keyboard, and looks back only so far", () => {
    expect(activeReplyKeyboard([fromBot(1, 1, kb([]))], ME)).toBeNull();
    const messages = [fromBot(1, 1, kb([["A"]])), ...Array.from({ length: 5 }, (_, i) => fromBot(i + 2, i + 2, null))];
    expect(activeReplyKeyboard(messages, ME, 5)).toBeNull();
    expect(activeReplyKeyboard(messages, ME, 6)?.messageId).toBe("1");
  });
});

describe("reply keyboard labels", () => {
  it("are kept exactly (they are what a tap sends), or dropped", () => {
    const kb = replyKeyboard({ keyboard: [[" Yes ", "a\u0000b", "  ", "x\u202ey", "ok"]] });
    expect(kb?.keyboard).toEqual([[" Yes ", "ok"]]);
  });
});
