import { useReducer, useState } from "preact/hooks";

import { ApiError, api } from "../lib/api";
import { challengeExpired, loginStart, loginTransition, normalizeCode } from "../lib/login";
import type { LoginResult, SessionInfo } from "../lib/types";
import { ErrorAlert } from "./Feedback";
import { ForgotPassword } from "./ForgotPassword";

function failureText(err: unknown): string {
  return err instanceof ApiError ? err.describe() : "Could not log in.";
}

export function Login(props: { notice: string | null; onSignedIn: (session: SessionInfo) => void }) {
  const [state, send] = useReducer(loginTransition, loginStart);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  // "Forgot password?": the reset request form in place of this one.
  const [forgot, setForgot] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    if (state.step === "done" || state.busy) return;
    if (challengeExpired(state, Date.now())) {
      setCode("");
      send({ type: "expired" });
      return;
    }
    send({ type: "submit" });
    let result: LoginResult;
    try {
      result =
        state.step === "second-factor"
          ? await api.loginSecondFactor(state.challenge, normalizeCode(code, state.method))
          : await api.login(username.trim(), password);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setCode("");
        send({ type: "rejected" });
      } else {
        send({ type: "failed", message: failureText(err) });
      }
      return;
    }
    // The password has done its job either way: a second step redeems the challenge.
    setPassword("");
    setCode("");
    send({ type: "answer", result, now: Date.now() });
    if (result.status !== "two_factor_required") props.onSignedIn(result);
  }

  const busy = state.step !== "done" && state.busy;
  const error = state.step !== "done" ? state.error : null;

  if (forgot) {
    return (
      <main class="login-page">
        <ForgotPassword initialName={username.trim()} onBack={() => setForgot(false)} />
      </main>
    );
  }

  return (
    <main class="login-page">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Redoubt</h1>
        {props.notice && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        {state.step === "second-factor" ? (
          <>
            {state.method === "totp" ? (
              <>
                <label for="login-code">Authentication code</label>
                <p id="login-code-hint" class="hint muted">
                  The 6-digit code from your authenticator app.
                </p>
                <input
                  // A new element per method, so the browser doesn't offer one kind's
                  // autofill for the other.
                  key="totp"
                  id="login-code"
                  name="code"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  maxLength={10}
                  aria-describedby="login-code-hint"
                  value={code}
                  onInput={(e) => setCode(e.currentTarget.value)}
                  required
                  autoFocus
                />
              </>
            ) : (
              <>
                <label for="login-code">Recovery code</label>
                <p id="login-code-hint" class="hint muted">
                  One of the recovery codes you saved when you set up two-factor authentication. Each works once.
                </p>
                <input
                  key="recovery"
                  id="login-code"
                  name="code"
                  type="text"
                  inputMode="text"
                  autoComplete="off"
                  autoCapitalize="off"
                  spellcheck={false}
                  maxLength={64}
                  aria-describedby="login-code-hint"
                  value={code}
                  onInput={(e) => setCode(e.currentTarget.value)}
                  required
                  autoFocus
                />
              </>
            )}
            <div class="login-links">
              {state.recoveryAllowed && (
                <button
                  type="button"
                  class="link-button"
                  data-testid="code-toggle"
                  disabled={busy}
                  onClick={() => {
                    setCode("");
                    send({ type: "toggle-method" });
                  }}
                >
                  {state.method === "totp" ? "Use a recovery code" : "Use your authenticator app"}
                </button>
              )}
              <button
                type="button"
                class="link-button"
                disabled={busy}
                onClick={() => {
                  setCode("");
                  send({ type: "restart" });
                }}
              >
                Start over
              </button>
            </div>
          </>
        ) : (
          <>
            <label for="login-username">Username</label>
            <input
              id="login-username"
              name="username"
              autoComplete="username"
              value={username}
              onInput={(e) => setUsername(e.currentTarget.value)}
              required
              autoFocus
            />
            <label for="login-password">Password</label>
            <input
              id="login-password"
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              required
            />
          </>
        )}
        <ErrorAlert text={error} testId="login-error" />
        {state.step === "second-factor" ? (
          <button type="submit" class="primary" data-testid="code-submit" disabled={busy}>
            {busy ? "Checking…" : "Verify"}
          </button>
        ) : (
          <>
            <button type="submit" class="primary" data-testid="login-submit" disabled={busy}>
              {busy ? "Signing in…" : "Sign in"}
            </button>
            <div class="login-links">
              <button
                type="button"
                class="link-button"
                data-testid="forgot-link"
                disabled={busy}
                onClick={() => {
                  // The password isn't needed for a reset, and shouldn't wait around.
                  setPassword("");
                  setForgot(true);
                }}
              >
                Forgot password?
              </button>
            </div>
          </>
        )}
      </form>
    </main>
  );
}
