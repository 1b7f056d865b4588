import { useRef, useState } from "preact/hooks";

import { api } from "../lib/api";
import { MIN_PASSWORD_CHARS, passwordProblem } from "../lib/password";
import { takeResetToken } from "../lib/reset";
import { ErrorAlert } from "./Feedback";
import { ForgotPassword } from "./ForgotPassword";
import { errorText } from "./hooks";

export const RESET_DONE_TEXT = "Password changed. All your sessions were signed out. Log in with the new password.";

type Field = "new" | "confirm";

/**
 * /reset#token=…: choose a new password with the token from a reset mail.
 *
 * The token is taken from the fragment once, when the page mounts, and the fragment is
 * removed from the address bar at once (see lib/reset.ts); it is sent nowhere but the
 * confirm call. The page doesn't need a session and works whether or not the browser is
 * signed in (to any account): the reset ends every session of the account it is for,
 * this browser's included if it was that account's.
 */
export function ResetPassword() {
  const [token, setToken] = useState<string | null>(takeResetToken);
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: Field | null; text: string } | null>(null);
  const [done, setDone] = useState(false);
  const [asking, setAsking] = useState(false);
  const fields = { new: useRef<HTMLInputElement>(null), confirm: useRef<HTMLInputElement>(null) };

  function fail(field: Field | null, text: string) {
    setError({ field, text });
    if (field) fields[field].current?.focus();
  }

  async function submit(e: Event) {
    e.preventDefault();
    if (busy || !token) return;
    setError(null);
    const problem = passwordProblem(next, confirm);
    if (problem) return fail(problem.field, problem.text);
    setBusy(true);
    try {
      await api.confirmPasswordReset(token, next);
      // Used up: nothing of it or the password stays in the page.
      setToken(null);
      setNext("");
      setConfirm("");
      setDone(true);
    } catch (err) {
      // The server's words: the link is invalid or expired, or the policy refused the
      // password (then the link still works and the form stays).
      fail(null, errorText(err));
    } finally {
      setBusy(false);
    }
  }

  let content;
  if (asking) {
    content = <ForgotPassword onBack={() => setAsking(false)} backLabel="Back" />;
  } else if (done) {
    content = (
      <section class="login-card" aria-labelledby="reset-title">
        <h1 id="reset-title">Password reset</h1>
        <p class="notice" role="status" data-testid="reset-done">
          {RESET_DONE_TEXT}
        </p>
        <a href="/login" class="primary button-link" data-testid="reset-login">
          Log in
        </a>
      </section>
    );
  } else if (!token) {
    content = (
      <section class="login-card" aria-labelledby="reset-title">
        <h1 id="reset-title">Reset your password</h1>
        <p class="error" role="alert" data-testid="reset-missing">
          This page needs the link from your password reset email, and the link here is missing or incomplete. Open
          the link from the email again (copy all of it), or request a new one.
        </p>
        <RequestNew onClick={() => setAsking(true)} />
      </section>
    );
  } else {
    const invalid = (field: Field) => (error?.field === field ? "true" : undefined);
    content = (
      <form class="login-card" onSubmit={submit} aria-labelledby="reset-title" noValidate>
        <h1 id="reset-title">Choose a new password</h1>
        <label for="reset-new-password">New password</label>
        <input
          ref={fields.new}
          id="reset-new-password"
          name="new-password"
          type="password"
          autoComplete="new-password"
          required
          autoFocus
          aria-describedby="reset-new-password-hint"
          aria-invalid={invalid("new")}
          value={next}
          onInput={(e) => setNext(e.currentTarget.value)}
        />
        <p id="reset-new-password-hint" class="hint muted">
          At least {MIN_PASSWORD_CHARS} characters; not a common password and not your name.
        </p>
        <label for="reset-confirm-password">Confirm new password</label>
        <input
          ref={fields.confirm}
          id="reset-confirm-password"
          name="confirm-password"
          type="password"
          autoComplete="new-password"
          required
          aria-invalid={invalid("confirm")}
          value={confirm}
          onInput={(e) => setConfirm(e.currentTarget.value)}
        />
        <ErrorAlert text={error?.text} testId="reset-error" />
        <button type="submit" class="primary" data-testid="reset-submit" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
        <RequestNew onClick={() => setAsking(true)} />
      </form>
    );
  }
  return <main class="login-page">{content}</main>;
}

function RequestNew(props: { onClick: () => void }) {
  return (
    <div class="login-links">
      <button type="button" class="link-button" data-testid="reset-request-new" onClick={props.onClick}>
        Request a new link
      </button>
      <a href="/login">Back to sign in</a>
    </div>
  );
}
