import { describe, expect, it } from "vitest";

import { toggled } from "./sets";

describe("toggled", () => {
  it("adds or removes one value and leaves the original alone", () => {
    const start = new Set(["a"]);
    expect([...toggled(start, "b", true)]).toEqual(["a", "b"]);
    expect([...toggled(start, "a", false)]).toEqual([]);
    expect([...start]).toEqual(["a"]);
  });

  it("starts from nothing when there is no set yet", () => {
    expect([...toggled(null, "x", true)]).toEqual(["x"]);
  });
});
