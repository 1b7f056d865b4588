import { describe, expect, it } from "vitest";

import { commandOptions, commandQuery, matchCommands, MAX_OPTIONS, moveSelection } from "./botCommands";

const RAW = [
  { bot_id: "9", bot_username: "helper", command: "start", description: "Start over" },
  { bot_id: "9", bot_username: "helper", command: "help", description: "<b>How</b> to use" },
  { bot_id: "8", bot_username: "weather", command: "start", description: "Begin" },
  { bot_id: "8", bot_username: "weather", command: "forecast", description: "Tomorrow" },
];

describe("commandQuery", () => {
  it("completes a leading slash and a partial command only", () => {
    expect(commandQuery("/")).toBe("");
    expect(commandQuery("/he")).toBe("he");
    expect(commandQuery("/start@wea")).toBe("start@wea");
    expect(commandQuery("/start ")).toBeNull();
    expect(commandQuery("hello /start")).toBeNull();
    expect(commandQuery(" /start")).toBeNull();
    expect(commandQuery("/a/b")).toBeNull();
    expect(commandQuery("")).toBeNull();
    expect(commandQuery("/he", 1)).toBeNull();
  });
});

describe("commandOptions", () => {
  it("sorts, and names the bot when two share a command", () => {
    const options = commandOptions(RAW);
    expect(options.map((o) => o.insert)).toEqual(["/forecast ", "/help ", "/start@helper ", "/start@weather "]);
    expect(options[1]?.description).toBe("<b>How</b> to use");
  });

  it("drops malformed entries and duplicates", () => {
    const options = commandOptions([
      ...RAW.slice(0, 1),
      RAW[0],
      { bot_username: "helper", command: "Bad Command", description: "" },
      { bot_username: "helper", command: "x".repeat(33), description: "" },
      { bot_username: "evil name", command: "ok", description: "" },
      { bot_username: "helper", command: "nodesc" },
      null,
      "start",
    ]);
    expect(options.map((o) => o.insert)).toEqual(["/nodesc ", "/start "]);
    expect(options[0]?.description).toBe("");
    expect(commandOptions({ commands: [] })).toEqual([]);
  });
});

describe("matchCommands", () => {
  const options = commandOptions(RAW);
  it("matches the command prefix, then the bot", () => {
    expect(matchCommands(options, "").map((o) => o.command)).toEqual(["forecast", "help", "start", "start"]);
    expect(matchCommands(options, "st").map((o) => o.botUsername)).toEqual(["helper", "weather"]);
    expect(matchCommands(options, "START@w").map((o) => o.botUsername)).toEqual(["weather"]);
    expect(matchCommands(options, "nothing")).toEqual([]);
  });

  it("offers a bounded list", () => {
    const many = commandOptions(Array.from({ length: 50 }, (_, i) => ({ bot_username: "b", command: `c${i}`, description: "" })));
    expect(matchCommands(many, "c")).toHaveLength(MAX_OPTIONS);
  });
});

describe("moveSelection", () => {
  it("wraps around", () => {
    expect(moveSelection(0, 1, 3)).toBe(1);
    expect(moveSelection(2, 1, 3)).toBe(0);
    expect(moveSelection(0, -1, 3)).toBe(2);
    expect(moveSelection(-1, 1, 3)).toBe(0);
    expect(moveSelection(-1, -1, 3)).toBe(2);
    expect(moveSelection(0, 1, 0)).toBe(-1);
  });
});
