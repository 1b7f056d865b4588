import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, api } from "../lib/api";
import { normalizeCode } from "../lib/login";
import { drawQr, encodeQr } from "../lib/qr";
import type { TotpEnrolment, TwoFactorStatus } from "../lib/types";
import { downloadText, groupSecret, recoveryCodesFileName, recoveryCodesText } from "../lib/twofa";
import { ErrorAlert, SuccessNote } from "./Feedback";
import { errorText, useAction } from "./hooks";

/**
 * Two-factor authentication (TOTP): setting it up, recovery codes, turning it off; and
 * the full-page enrolment a role that requires it gets at login.
 *
 * Nothing here uses the chat client's store: the enrol-only screen runs before the app
 * starts (no store, no event stream), and the settings page passes what it knows in.
 * The secret and the recovery codes are shown once, as text (and the secret as a QR code
 * drawn on a canvas); they are never stored, logged or put in a URL.
 */

/** Pixels per QR module: a 33-module code with its quiet zone is ~250 px, easy to scan. */
const QR_SCALE = 6;

/**
 * A refused code, in the server's words (it says what to check). The calls that carry a
 * code don't sign out on a 401, so one is worded here.
 */
function codeErrorText(err: unknown): string {
  if (err instanceof ApiError && err.status === 401) return "That code didn't work. Enter the current code.";
  return errorText(err);
}

// ---- settings section ----------------------------------------------------------------

type Panel = "overview" | "setup" | "regenerate" | "disable";

export function statusText(status: TwoFactorStatus): string {
  const parts: string[] = [];
  if (status.totp === "active") {
    const n = status.recovery_codes_left;
    parts.push("On", n === 1 ? "1 recovery code left" : `${n} recovery codes left`);
  } else {
    parts.push("Off");
  }
  if (status.required) parts.push("Required by your role");
  return parts.join(" · ");
}

/** The settings page's two-factor section content. */
export function TwoFactorSettings(props: { username: string; onOtherSessionsEnded: () => void }) {
  const [status, setStatus] = useState<TwoFactorStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [panel, setPanel] = useState<Panel>("overview");

  function reload() {
    return api.twoFactor().then(
      (s) => {
        setStatus(s);
        setError(null);
      },
      (err) => setError(errorText(err)),
    );
  }
  useEffect(() => void reload(), []);

  function finish(message: string | null) {
    setPanel("overview");
    setNotice(message);
    void reload();
  }

  function open(next: Panel) {
    setNotice(null);
    setPanel(next);
  }

  return (
    <div class="twofa">
      <p class="twofa-status">
        Status:{" "}
        <strong data-testid="twofa-status" data-state={status?.totp}>
          {status ? statusText(status) : "Loading…"}
        </strong>
      </p>
      <ErrorAlert testId="twofa-load-error" text={error} />
      <SuccessNote text={notice} testId="twofa-notice" />
      {status && panel === "overview" && (
        <>
          {status.totp === "active" ? (
            <>
              {status.recovery_codes_left <= 2 && (
                <p class="muted" data-testid="twofa-low-codes">
                  You're running out of recovery codes: make new ones before you need them.
                </p>
              )}
              <div class="settings-actions">
                <button type="button" data-testid="twofa-regenerate" onClick={() => open("regenerate")}>
                  New recovery codes
                </button>
                {!status.required && (
                  <button type="button" class="danger" data-testid="twofa-disable" onClick={() => open("disable")}>
                    Turn off
                  </button>
                )}
              </div>
            </>
          ) : (
            <>
              <p class="muted">
                Sign in with a code from an authenticator app on your phone as well as your password, so a stolen
                password alone isn't enough.
              </p>
              <TotpSetup
                username={props.username}
                onStarted={() => setNotice(null)}
                onConfirmed={props.onOtherSessionsEnded}
                onEnrolled={() => finish("Two-factor authentication is on.")}
              />
            </>
          )}
        </>
      )}
      {status && panel === "regenerate" && (
        <RegenerateCodes
          username={props.username}
          onCancel={() => setPanel("overview")}
          onDone={() => finish("Your new recovery codes are in place; the old ones no longer work.")}
        />
      )}
      {status && panel === "disable" && (
        <DisableTwoFactor onCancel={() => setPanel("overview")} onDone={() => finish("Two-factor authentication is off.")} />
      )}
    </div>
  );
}

// ---- enrolment -------------------------------------------------------------------------

type SetupStep =
  | { step: "idle" }
  | { step: "starting" }
  | { step: "scan"; enrolment: TotpEnrolment }
  | { step: "codes"; codes: string[] };

/**
 * Set up an authenticator app: get a secret, show it (QR code and text), check a first
 * code, show the recovery codes once.
 */
export function TotpSetup(props: {
  username: string;
  /** After the first code is accepted (the server has ended the user's other sessions). */
  onConfirmed?: () => void;
  onStarted?: () => void;
  /** After the user has seen (and said they saved) the recovery codes. */
  onEnrolled: () => void;
}) {
  const [state, setState] = useState<SetupStep>({ step: "idle" });
  const [code, setCode] = useState("");
  const { busy, error, setError, run } = useAction();

  async function start() {
    setError(null);
    setCode("");
    setState({ step: "starting" });
    props.onStarted?.();
    try {
      setState({ step: "scan", enrolment: await api.startTotp() });
    } catch (err) {
      setState({ step: "idle" });
      setError(
        err instanceof ApiError && err.status === 409
          ? "Two-factor authentication is already on. Reload the page."
          : errorText(err),
      );
    }
  }

  async function confirm(e: Event) {
    e.preventDefault();
    if (busy) return;
    const typed = normalizeCode(code, "totp");
    if (!/^[0-9]{6}$/.test(typed)) {
      setError("Enter the 6-digit code your app shows.");
      return;
    }
    await run(async () => {
      const { recovery_codes } = await api.confirmTotp(typed);
      setCode("");
      setState({ step: "codes", codes: recovery_codes });
      props.onConfirmed?.();
    }, codeErrorText);
  }

  if (state.step === "codes") {
    return (
      <RecoveryCodesPanel
        codes={state.codes}
        username={props.username}
        intro="Two-factor authentication is on. If you lose your phone, these codes are the only way in without an administrator:"
        onDone={props.onEnrolled}
      />
    );
  }

  if (state.step !== "scan") {
    return (
      <div class="twofa-setup">
        <ErrorAlert testId="twofa-error" text={error} />
        <button
          type="button"
          class="primary"
          data-testid="twofa-setup"
          disabled={state.step === "starting"}
          onClick={() => void start()}
        >
          {state.step === "starting" ? "Preparing…" : "Set up an authenticator app"}
        </button>
      </div>
    );
  }

  const { enrolment } = state;
  return (
    <div class="twofa-setup">
      <ol class="twofa-steps">
        <li>
          <p>Scan this QR code with an authenticator app (such as Aegis, FreeOTP or Google Authenticator):</p>
          <QrCanvas text={enrolment.otpauth_uri} />
        </li>
        <li>
          <p>Or, if you can't scan it, enter this key in the app (time-based, 6 digits):</p>
          <SecretText secret={enrolment.secret} />
        </li>
        <li>
          <form class="form settings-form" onSubmit={confirm} noValidate>
            <label for="twofa-code">Then enter the code the app shows</label>
            <input
              id="twofa-code"
              name="twofa-code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={10}
              required
              value={code}
              aria-invalid={error ? "true" : undefined}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
            <ErrorAlert testId="twofa-error" text={error} />
            <div class="settings-actions">
              <button type="submit" class="primary" data-testid="twofa-confirm" disabled={busy}>
                {busy ? "Checking…" : "Turn on"}
              </button>
              <button type="button" data-testid="twofa-restart" disabled={busy} onClick={() => void start()}>
                New key
              </button>
            </div>
          </form>
        </li>
      </ol>
    </div>
  );
}

/** The otpauth link as a QR code, drawn on a canvas (no markup, no data: URL). */
function QrCanvas(props: { text: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let current = true;
    setFailed(false);
    encodeQr(props.text).then(
      (matrix) => {
        if (current && canvas.current && !drawQr(canvas.current, matrix, QR_SCALE)) setFailed(true);
      },
      () => current && setFailed(true),
    );
    return () => {
      current = false;
    };
  }, [props.text]);

  return (
    <div class="twofa-qr">
      <canvas
        ref={canvas}
        data-testid="twofa-qr"
        role="img"
        aria-label="QR code for your authenticator app"
        width={0}
        height={0}
      />
      {failed && (
        <p class="error" role="alert">
          The QR code could not be drawn. Enter the key below by hand.
        </p>
      )}
    </div>
  );
}

/** The secret for typing by hand, in groups of four, with a copy button. */
function SecretText(props: { secret: string }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  }

  return (
    <div class="twofa-secret-row">
      <code class="twofa-secret" data-testid="twofa-secret" aria-label="Key for your authenticator app">
        {groupSecret(props.secret)}
      </code>
      <button type="button" data-testid="twofa-copy-secret" onClick={() => void copy()}>
        Copy key
      </button>
      <span role="status" class={copied === "no" ? "error" : "muted"}>
        {copied === "yes" ? "Copied." : copied === "no" ? "Couldn't copy: select the key instead." : ""}
      </span>
    </div>
  );
}

// ---- recovery codes --------------------------------------------------------------------

/** Fresh recovery codes, shown this once, with a download; "I saved them" moves on. */
function RecoveryCodesPanel(props: { codes: string[]; username: string; intro: string; onDone: () => void }) {
  const done = useRef<HTMLButtonElement>(null);
  useEffect(() => done.current?.focus(), []);

  function download() {
    const text = recoveryCodesText(props.codes, props.username, location.origin, new Date());
    downloadText(text, recoveryCodesFileName(props.username));
  }

  return (
    <div class="twofa-codes">
      <p>{props.intro}</p>
      <ol class="recovery-codes" data-testid="twofa-recovery-codes" aria-label="Recovery codes">
        {props.codes.map((c) => (
          <li key={c}>
            <code data-testid="recovery-code">{c}</code>
          </li>
        ))}
      </ol>
      <p class="muted">
        Each code works once, in place of a code from your app. Keep them somewhere safe, away from your phone: they
        won't be shown again.
      </p>
      <div class="settings-actions">
        <button type="button" data-testid="twofa-download" onClick={download}>
          Download as text file
        </button>
        <button type="button" class="primary" data-testid="twofa-done" ref={done} onClick={props.onDone}>
          I saved them
        </button>
      </div>
    </div>
  );
}

function RegenerateCodes(props: { username: string; onCancel: () => void; onDone: () => void }) {
  const [code, setCode] = useState("");
  const { busy, error, setError, run } = useAction();
  const [codes, setCodes] = useState<string[] | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    const typed = normalizeCode(code, "totp");
    if (!/^[0-9]{6}$/.test(typed)) {
      setError("Enter the 6-digit code your app shows.");
      return;
    }
    await run(async () => {
      setCodes((await api.regenerateRecoveryCodes(typed)).recovery_codes);
      setCode("");
    }, codeErrorText);
  }

  if (codes) {
    return (
      <RecoveryCodesPanel
        codes={codes}
        username={props.username}
        intro="Your new recovery codes (the old ones no longer work):"
        onDone={props.onDone}
      />
    );
  }
  return (
    <form class="form settings-form" onSubmit={submit} noValidate aria-label="New recovery codes">
      <p class="muted">New codes replace all the old ones, used or not.</p>
      <label for="twofa-regenerate-code">Code from your authenticator app</label>
      <input
        id="twofa-regenerate-code"
        name="twofa-regenerate-code"
        inputMode="numeric"
        autoComplete="one-time-code"
        maxLength={10}
        required
        autoFocus
        value={code}
        aria-invalid={error ? "true" : undefined}
        onInput={(e) => setCode(e.currentTarget.value)}
      />
      <ErrorAlert testId="twofa-error" text={error} />
      <div class="settings-actions">
        <button type="submit" class="primary" data-testid="twofa-regenerate-confirm" disabled={busy}>
          {busy ? "Making codes…" : "Make new codes"}
        </button>
        <button type="button" onClick={props.onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function DisableTwoFactor(props: { onCancel: () => void; onDone: () => void }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const { busy, error, setError, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    if (!password || !code.trim()) {
      setError("Enter your password and a code.");
      return;
    }
    await run(async () => {
      await api.disableTwoFactor(password, code.trim());
      setPassword("");
      setCode("");
      props.onDone();
      // On failure either may be wrong, and the server (rightly) doesn't say which.
    }, codeErrorText);
  }

  return (
    <form class="form settings-form" onSubmit={submit} noValidate aria-label="Turn off two-factor authentication">
      <p class="muted">Without it, your password alone signs you in. Your recovery codes stop working.</p>
      <label for="twofa-disable-password">Password</label>
      <input
        id="twofa-disable-password"
        name="twofa-disable-password"
        type="password"
        autoComplete="current-password"
        required
        autoFocus
        value={password}
        onInput={(e) => setPassword(e.currentTarget.value)}
      />
      <label for="twofa-disable-code">Code from your authenticator app, or a recovery code</label>
      <input
        id="twofa-disable-code"
        name="twofa-disable-code"
        autoComplete="one-time-code"
        autoCapitalize="off"
        spellcheck={false}
        maxLength={32}
        required
        value={code}
        onInput={(e) => setCode(e.currentTarget.value)}
      />
      <ErrorAlert testId="twofa-error" text={error} />
      <div class="settings-actions">
        <button type="submit" class="danger" data-testid="twofa-disable-confirm" disabled={busy}>
          {busy ? "Turning off…" : "Turn off two-factor authentication"}
        </button>
        <button type="button" onClick={props.onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

// ---- enrol-only sessions -----------------------------------------------------------------

/**
 * The whole page for a session whose role requires a second factor it hasn't set up:
 * the server refuses everything else, so there is nothing else to show.
 */
export function EnrolRequired(props: { username: string; onEnrolled: () => void; onLogout: () => void }) {
  return (
    <main class="login-page">
      <section class="login-card enrol-card" data-testid="enrol-required" aria-labelledby="enrol-title">
        <h1 id="enrol-title">Your role requires two-factor authentication</h1>
        <p>
          Signed in as <strong>{props.username}</strong>. Before you continue, set up an authenticator app: from now on
          you'll sign in with your password and a code from the app.
        </p>
        <TotpSetup username={props.username} onEnrolled={props.onEnrolled} />
        <div class="enrol-footer">
          <button type="button" class="link-button" data-testid="logout" onClick={props.onLogout}>
            Log out
          </button>
        </div>
      </section>
    </main>
  );
}
