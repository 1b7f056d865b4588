import { describe, expect, it } from "vitest";

import { secretItems, secretOnce, type ShownSecret } from "./secretOnce";

const token: ShownSecret = { title: "Token created", items: [{ label: "Token", value: "rdt_pat_abc_123" }] };

describe("secretOnce", () => {
  it("shows a secret and forgets it on close", () => {
    const shown = secretOnce(null, { type: "show", secret: token });
    expect(shown).toBe(token);
    const closed = secretOnce(shown, { type: "close" });
    expect(closed).toBeNull();
    // Nothing of it survives in the state.
    expect(JSON.stringify(closed)).not.toContain("rdt_pat");
  });

  it("a new secret replaces the one on screen", () => {
    const other: ShownSecret = { title: "Token rotated", items: [{ label: "Token", value: "rdt_pat_new_456" }] };
    expect(secretOnce(token, { type: "show", secret: other })).toBe(other);
  });

  it("ignores an answer without a value", () => {
    expect(secretOnce(null, { type: "show", secret: { title: "x", items: [{ label: "Token", value: "" }] } })).toBeNull();
  });

  it("never touches storage", () => {
    localStorage.clear();
    sessionStorage.clear();
    secretOnce(secretOnce(null, { type: "show", secret: token }), { type: "close" });
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
  });
});

describe("secretItems", () => {
  it("keeps only the values the server sent", () => {
    expect(
      secretItems([
        ["Signing secret", "rdt_whs_x"],
        ["URL with its token", null],
        ["Other", ""],
      ]),
    ).toEqual([{ label: "Signing secret", value: "rdt_whs_x" }]);
  });
});
