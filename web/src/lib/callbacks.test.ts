import { describe, expect, it } from "vitest";

import { CALLBACK_TTL_MS, CallbackTracker, MAX_ANSWER_TEXT, shownAnswer } from "./callbacks";

describe("shownAnswer", () => {
  it("keeps the text as text, cut to 200 characters, and the alert flag only when true", () => {
    expect(shownAnswer({ callback_id: "c1", text: "<b>Done</b>", show_alert: false })).toEqual({
      callbackId: "c1",
      text: "<b>Done</b>",
      alert: false,
    });
    expect(shownAnswer({ callback_id: "c1", text: "x", show_alert: "yes" })?.alert).toBe(false);
    expect(shownAnswer({ callback_id: "c1", text: "x", show_alert: true })?.alert).toBe(true);
    expect(Array.from(shownAnswer({ callback_id: "c", text: "y".repeat(999) })?.text ?? "")).toHaveLength(MAX_ANSWER_TEXT);
  });

  it("is null without text or a callback id", () => {
    for (const raw of [null, "x", {}, { callback_id: "c", text: null }, { callback_id: "c", text: "  " }, { text: "hi" }, { callback_id: "", text: "hi" }]) {
      expect(shownAnswer(raw)).toBeNull();
    }
  });
});

describe("CallbackTracker", () => {
  it("shows the answer to a click this page made, once", () => {
    const t = new CallbackTracker();
    expect(t.clicked("c1")).toBeNull();
    expect(t.answered({ callback_id: "c1", text: "Thanks", show_alert: false })?.text).toBe("Thanks");
    expect(t.answered({ callback_id: "c1", text: "Thanks", show_alert: false })).toBeNull();
  });

  it("ignores answers to clicks made elsewhere (another device)", () => {
    const t = new CallbackTracker();
    expect(t.answered({ callback_id: "other", text: "Hi", show_alert: true })).toBeNull();
  });

  it("holds an answer that comes before its click's HTTP answer", () => {
    const t = new CallbackTracker();
    expect(t.answered({ callback_id: "fast", text: "Quick", show_alert: true })).toBeNull();
    expect(t.clicked("fast")).toEqual({ callbackId: "fast", text: "Quick", alert: true });
    expect(t.clicked("fast")).toBeNull();
  });

  it("forgets clicks and early answers after a while", () => {
    let now = 0;
    const t = new CallbackTracker(() => now);
    t.clicked("late");
    t.answered({ callback_id: "early", text: "x" });
    now = CALLBACK_TTL_MS + 1;
    expect(t.answered({ callback_id: "late", text: "x" })).toBeNull();
    expect(t.clicked("early")).toBeNull();
  });

  it("stays bounded", () => {
    const t = new CallbackTracker();
    for (let i = 0; i < 1000; i++) t.answered({ callback_id: `spam${i}`, text: "x" });
    expect(t.clicked("spam0")).toBeNull();
    expect(t.clicked("spam999")?.text).toBe("x");
  });
});
