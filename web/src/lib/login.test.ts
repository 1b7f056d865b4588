import { describe, expect, it } from "vitest";

import {
  CHALLENGE_EXPIRED,
  CHALLENGE_TTL_MS,
  CHALLENGE_USED_UP,
  MAX_CODE_TRIES,
  WRONG_CODE,
  WRONG_PASSWORD,
  challengeExpired,
  loginStart,
  loginTransition,
  normalizeCode,
  type LoginEvent,
  type LoginState,
} from "./login";
import type { LoginResult, SessionInfo } from "./types";

const session: SessionInfo = {
  user: { id: "1", username: "alice", display_name: "Alice", role: "user", is_active: true },
  csrf_token: "t",
};

const T0 = 1_700_000_000_000;

const challenge: Extract<LoginResult, { status: "two_factor_required" }> = {
  status: "two_factor_required",
  challenge: "ch-1",
  methods: ["totp", "recovery_code"],
};

function run(...events: LoginEvent[]): LoginState {
  return events.reduce(loginTransition, loginStart);
}

/** The password step answered with a challenge at T0. */
function atSecondFactor(): LoginState {
  return run({ type: "submit" }, { type: "answer", result: challenge, now: T0 });
}

describe("login state machine: password step", () => {
  it("goes from credentials to done", () => {
    let s = loginTransition(loginStart, { type: "submit" });
    expect(s).toEqual({ step: "credentials", busy: true, error: null });
    // The server's answer says "status": "ok" when no second factor is needed.
    s = loginTransition(s, { type: "answer", result: { ...session, status: "ok" }, now: T0 });
    expect(s).toEqual({ step: "done", session });
  });

  it("keeps the session's enrol-only flag when the answer has it", () => {
    const s = run({ type: "submit" }, { type: "answer", result: { ...session, enrol_only: true, status: "ok" }, now: T0 });
    expect(s).toEqual({ step: "done", session: { ...session, enrol_only: true } });
  });

  it("shows failures and allows another try", () => {
    const s = run({ type: "submit" }, { type: "failed", message: "nope" });
    expect(s).toEqual({ step: "credentials", busy: false, error: "nope" });
    expect(loginTransition(s, { type: "submit" })).toEqual({ step: "credentials", busy: true, error: null });
  });

  it("says a refused password is wrong, with no limit on retries in the client", () => {
    let s = loginStart;
    for (let i = 0; i < MAX_CODE_TRIES + 2; i++) s = run({ type: "submit" }, { type: "rejected" });
    expect(s).toEqual({ step: "credentials", busy: false, error: WRONG_PASSWORD });
  });
});

describe("login state machine: second factor", () => {
  it("asks for a code with the challenge, not the password", () => {
    const s = atSecondFactor();
    expect(s).toEqual({
      step: "second-factor",
      challenge: "ch-1",
      method: "totp",
      recoveryAllowed: true,
      failures: 0,
      issuedAt: T0,
      busy: false,
      error: null,
    });
    expect(JSON.stringify(s)).not.toContain("password");
    expect(loginTransition(s, { type: "restart" })).toEqual(loginStart);
  });

  it("finishes like a password-only login when a code is accepted", () => {
    const s = run(
      { type: "submit" },
      { type: "answer", result: challenge, now: T0 },
      { type: "submit" },
      { type: "answer", result: { ...session, status: "ok" }, now: T0 + 1000 },
    );
    expect(s).toEqual({ step: "done", session });
  });

  it("switches between the authenticator and a recovery code, clearing the error", () => {
    let s = loginTransition(loginTransition(atSecondFactor(), { type: "submit" }), { type: "rejected" });
    expect(s).toMatchObject({ method: "totp", error: WRONG_CODE });
    s = loginTransition(s, { type: "toggle-method" });
    expect(s).toMatchObject({ step: "second-factor", method: "recovery_code", error: null, failures: 1 });
    s = loginTransition(s, { type: "toggle-method" });
    expect(s).toMatchObject({ method: "totp" });
  });

  it("offers no recovery code when the server doesn't list it", () => {
    const s = run({ type: "submit" }, { type: "answer", result: { ...challenge, methods: ["totp" as const] }, now: T0 });
    expect(s).toMatchObject({ recoveryAllowed: false });
    expect(loginTransition(s, { type: "toggle-method" })).toBe(s);
  });

  it("doesn't switch methods while a code is being checked", () => {
    const busy = loginTransition(atSecondFactor(), { type: "submit" });
    expect(loginTransition(busy, { type: "toggle-method" })).toBe(busy);
  });

  it("counts wrong codes and goes back to the password once the challenge is used up", () => {
    let s = atSecondFactor();
    for (let i = 1; i < MAX_CODE_TRIES; i++) {
      s = loginTransition(loginTransition(s, { type: "submit" }), { type: "rejected" });
      expect(s).toMatchObject({ step: "second-factor", failures: i, busy: false, error: WRONG_CODE });
    }
    s = loginTransition(loginTransition(s, { type: "submit" }), { type: "rejected" });
    expect(s).toEqual({ step: "credentials", busy: false, error: CHALLENGE_USED_UP });
  });

  it("doesn't count other failures (network, rate limit) as wrong codes", () => {
    const s = run(
      { type: "submit" },
      { type: "answer", result: challenge, now: T0 },
      { type: "submit" },
      { type: "failed", message: "Too many requests." },
    );
    expect(s).toMatchObject({ step: "second-factor", failures: 0, error: "Too many requests." });
  });

  it("knows when the challenge has expired, and goes back to the password", () => {
    const s = atSecondFactor();
    expect(challengeExpired(s, T0 + CHALLENGE_TTL_MS - 1)).toBe(false);
    expect(challengeExpired(s, T0 + CHALLENGE_TTL_MS)).toBe(true);
    expect(challengeExpired(loginStart, T0 + 10 * CHALLENGE_TTL_MS)).toBe(false);
    expect(loginTransition(s, { type: "expired" })).toEqual({
      step: "credentials",
      busy: false,
      error: CHALLENGE_EXPIRED,
    });
    expect(loginTransition(loginStart, { type: "expired" })).toBe(loginStart);
  });

  it("a new challenge starts a fresh count", () => {
    let s = atSecondFactor();
    s = loginTransition(loginTransition(s, { type: "submit" }), { type: "rejected" });
    s = loginTransition(s, { type: "restart" });
    s = run({ type: "submit" }, { type: "answer", result: { ...challenge, challenge: "ch-2" }, now: T0 + 5 });
    expect(s).toMatchObject({ challenge: "ch-2", failures: 0, issuedAt: T0 + 5 });
  });

  it("ignores everything once done", () => {
    const done = run({ type: "submit" }, { type: "answer", result: { ...session, status: "ok" }, now: T0 });
    for (const event of [{ type: "submit" }, { type: "rejected" }, { type: "expired" }] as LoginEvent[]) {
      expect(loginTransition(done, event)).toBe(done);
    }
  });
});

describe("normalizeCode", () => {
  it("drops the spaces people copy into authenticator codes", () => {
    expect(normalizeCode(" 123 456\n", "totp")).toBe("123456");
  });

  it("sends recovery codes as typed apart from the outer whitespace", () => {
    expect(normalizeCode("  abcde-fghij ", "recovery_code")).toBe("abcde-fghij");
  });
});
