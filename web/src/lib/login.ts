/**
 * The login flow as a small state machine, kept apart from the form so each step's
 * rules can be tested without a browser.
 *
 * Two steps when the account has a second factor: the password answers with a
 * challenge (no session yet), and a code redeems the challenge. The password is not
 * kept for the second step: the challenge replaces it. A challenge lives
 * {@link CHALLENGE_TTL_MS} and allows {@link MAX_CODE_TRIES} wrong codes; past either
 * the server refuses every code with the same 401, so the machine goes back to the
 * password step by itself rather than let the user type codes into a dead challenge.
 */
import type { LoginResult, SecondFactorMethod, SessionInfo } from "./types";

/** The server's limits on one challenge (docs/accounts.md). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
export const MAX_CODE_TRIES = 5;

export const WRONG_PASSWORD = "Wrong username or password.";
export const WRONG_CODE = "That code didn't work. Check it and try again.";
export const CHALLENGE_USED_UP = "Too many wrong codes. Enter your password again.";
export const CHALLENGE_EXPIRED = "That took too long. Enter your password again.";

export type SecondFactorState = {
  step: "second-factor";
  challenge: string;
  /** What the code field asks for: an authenticator code, or a recovery code. */
  method: SecondFactorMethod;
  /** Whether the server offered recovery codes for this account. */
  recoveryAllowed: boolean;
  /** Wrong codes so far for this challenge. */
  failures: number;
  /** When the challenge was issued (client clock, ms). */
  issuedAt: number;
  busy: boolean;
  error: string | null;
};

export type LoginState =
  | { step: "credentials"; busy: boolean; error: string | null }
  | SecondFactorState
  | { step: "done"; session: SessionInfo };

export type LoginEvent =
  | { type: "submit" }
  | { type: "answer"; result: LoginResult; now: number }
  /** The server refused the password or the code (401). */
  | { type: "rejected" }
  /** Anything else went wrong (network, rate limit, server error): the message says what. */
  | { type: "failed"; message: string }
  | { type: "toggle-method" }
  | { type: "expired" }
  | { type: "restart" };

export const loginStart: LoginState = { step: "credentials", busy: false, error: null };

export function isSecondFactorRequest(
  result: LoginResult,
): result is Extract<LoginResult, { status: "two_factor_required" }> {
  return result.status === "two_factor_required";
}

/** Whether the challenge can no longer be redeemed by the clock alone. */
export function challengeExpired(state: LoginState, now: number): boolean {
  return state.step === "second-factor" && now - state.issuedAt >= CHALLENGE_TTL_MS;
}

/**
 * A typed code as the server wants it: authenticator codes lose the spaces people
 * copy with them ("123 456"); recovery codes are sent as typed apart from the outer
 * whitespace (the server ignores case, spaces and dashes in them).
 */
export function normalizeCode(code: string, method: SecondFactorMethod): string {
  return method === "totp" ? code.replace(/\s+/g, "") : code.trim();
}

function credentials(error: string | null): LoginState {
  return { step: "credentials", busy: false, error };
}

export function loginTransition(state: LoginState, event: LoginEvent): LoginState {
  if (state.step === "done") return state;
  switch (event.type) {
    case "submit":
      return { ...state, busy: true, error: null };
    case "failed":
      return { ...state, busy: false, error: event.message };
    case "rejected": {
      if (state.step === "credentials") return { ...state, busy: false, error: WRONG_PASSWORD };
      const failures = state.failures + 1;
      if (failures >= MAX_CODE_TRIES) return credentials(CHALLENGE_USED_UP);
      return { ...state, failures, busy: false, error: WRONG_CODE };
    }
    case "toggle-method":
      if (state.step !== "second-factor" || state.busy || !state.recoveryAllowed) return state;
      return { ...state, method: state.method === "totp" ? "recovery_code" : "totp", error: null };
    case "expired":
      return state.step === "second-factor" ? credentials(CHALLENGE_EXPIRED) : state;
    case "restart":
      return loginStart;
    case "answer":
      if (isSecondFactorRequest(event.result)) {
        return {
          step: "second-factor",
          challenge: event.result.challenge,
          method: "totp",
          recoveryAllowed: event.result.methods.includes("recovery_code"),
          failures: 0,
          issuedAt: event.now,
          busy: false,
          error: null,
        };
      }
      return {
        step: "done",
        session: {
          user: event.result.user,
          csrf_token: event.result.csrf_token,
          ...(event.result.enrol_only === undefined ? {} : { enrol_only: event.result.enrol_only }),
        },
      };
  }
}
