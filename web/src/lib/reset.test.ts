import { afterEach, describe, expect, it } from "vitest";

import { passwordProblem } from "./password";
import { MAX_RESET_TOKEN, readResetToken, takeResetToken } from "./reset";
import { parseRoute } from "./router";

const TOKEN = "rdt_rst_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde_x1Y2z3";

describe("the /reset route", () => {
  it("is its own screen, whatever the query", () => {
    expect(parseRoute("/reset", "")).toEqual({ name: "reset" });
    expect(parseRoute("/reset/", "?token=x")).toEqual({ name: "reset" });
    expect(parseRoute("/reset/x", "").name).toBe("not-found");
  });
});

describe("readResetToken", () => {
  it("reads the token from the fragment", () => {
    expect(readResetToken(`#token=${TOKEN}`)).toBe(TOKEN);
    expect(readResetToken(`token=${TOKEN}`)).toBe(TOKEN);
    expect(readResetToken(`#other=1&token=${TOKEN}`)).toBe(TOKEN);
  });

  it.each(["", "#", "#token=", "#tok=abc", "#token=a%20b", "#token=a.b", "#token=<script>", "#token=a/b"])(
    "refuses %j",
    (hash) => {
      expect(readResetToken(hash)).toBeNull();
    },
  );

  it("refuses an overlong token", () => {
    expect(readResetToken(`#token=${"a".repeat(MAX_RESET_TOKEN)}`)).toBe("a".repeat(MAX_RESET_TOKEN));
    expect(readResetToken(`#token=${"a".repeat(MAX_RESET_TOKEN + 1)}`)).toBeNull();
  });
});

describe("takeResetToken", () => {
  afterEach(() => window.history.replaceState(null, "", "/"));

  it("returns the token and removes it from the address bar", () => {
    window.history.replaceState(null, "", `/reset#token=${TOKEN}`);
    const before = window.history.length;
    expect(takeResetToken()).toBe(TOKEN);
    expect(window.location.pathname).toBe("/reset");
    expect(window.location.hash).toBe("");
    expect(window.location.href).not.toContain(TOKEN);
    // Replaced, not pushed: the entry with the token is gone, not one step back.
    expect(window.history.length).toBe(before);
  });

  it("removes a malformed fragment too", () => {
    window.history.replaceState(null, "", "/reset#token=not a token");
    expect(takeResetToken()).toBeNull();
    expect(window.location.hash).toBe("");
  });

  it("ignores the query string", () => {
    window.history.replaceState(null, "", `/reset?token=${TOKEN}`);
    expect(takeResetToken()).toBeNull();
  });
});

describe("passwordProblem", () => {
  it("checks length in characters and the confirmation", () => {
    expect(passwordProblem("short", "short")?.field).toBe("new");
    expect(passwordProblem("🔑".repeat(9), "🔑".repeat(9))?.field).toBe("new");
    expect(passwordProblem("🔑".repeat(10), "🔑".repeat(10))).toBeNull();
    expect(passwordProblem("long enough pass", "long enough pasS")?.field).toBe("confirm");
    expect(passwordProblem("long enough pass", "long enough pass")).toBeNull();
  });
});
