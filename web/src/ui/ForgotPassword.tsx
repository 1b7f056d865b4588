import { useState } from "preact/hooks";

import { api } from "../lib/api";
import { ErrorAlert } from "./Feedback";
import { errorText } from "./hooks";

/**
 * What the page says after a reset request, whatever the account: the server answers
 * every request alike (202, same body) so that nobody can learn from it whether an
 * account exists or has an address, and the page must not undo that by saying more.
 */
export const RESET_REQUESTED_TEXT = "If that account exists and has an email address, a reset link is on its way.";

/**
 * "Forgot password?": ask for a reset link by username or email address. Shown on the
 * login page and on /reset when a link is missing or no longer works.
 */
export function ForgotPassword(props: { initialName?: string; onBack: () => void; backLabel?: string }) {
  const [name, setName] = useState(props.initialName ?? "");
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    const wanted = name.trim();
    setError(null);
    if (!wanted) {
      setError("Enter your username or email address.");
      return;
    }
    setBusy(true);
    try {
      // The answer's own text is ignored: the page says the one neutral sentence.
      await api.requestPasswordReset(wanted);
      setSent(true);
    } catch (err) {
      // Only failures that say nothing about the account get here (too many requests,
      // the server unreachable): the server answers every name alike.
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const back = (
    <div class="login-links">
      <button type="button" class="link-button" data-testid="forgot-back" onClick={props.onBack}>
        {props.backLabel ?? "Back to sign in"}
      </button>
    </div>
  );

  if (sent) {
    return (
      <section class="login-card" aria-labelledby="forgot-title">
        <h1 id="forgot-title">Check your email</h1>
        <p class="notice" role="status" data-testid="forgot-sent">
          {RESET_REQUESTED_TEXT}
        </p>
        <p class="hint muted">
          The link works once and for a limited time. Nothing arrived? Check your spam folder, or ask an
          administrator: not every account has an email address.
        </p>
        {back}
      </section>
    );
  }

  return (
    <form class="login-card" onSubmit={submit} aria-labelledby="forgot-title" noValidate>
      <h1 id="forgot-title">Reset your password</h1>
      <p class="hint muted" id="forgot-hint">
        Enter your username or email address. If the account has an email address, we'll send it a link to choose a
        new password.
      </p>
      <label for="forgot-name">Username or email address</label>
      <input
        id="forgot-name"
        name="username-or-email"
        autoComplete="username"
        autoCapitalize="off"
        spellcheck={false}
        maxLength={254}
        aria-describedby="forgot-hint"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
        required
        autoFocus
      />
      <ErrorAlert text={error} testId="forgot-error" />
      <button type="submit" class="primary" data-testid="forgot-submit" disabled={busy}>
        {busy ? "Sending…" : "Send reset link"}
      </button>
      {back}
    </form>
  );
}
