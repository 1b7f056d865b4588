import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { api } from "../lib/api";
import { deviceLabel } from "../lib/device";
import { MIN_PASSWORD_CHARS, passwordProblem } from "../lib/password";
import { useConfirm } from "./Confirm";
import { ErrorAlert, SuccessNote } from "./Feedback";
import { errorText, useAction, useAppState, useClient, useManagedList } from "./hooks";
import { NoticesSection } from "./Notices";
import { SessionList } from "./Sessions";
import { lazyComponent } from "./lazy";
import { TwoFactorSettings } from "./TwoFactor";

// Its own chunk: most people never open it.
const TokensSettings = lazyComponent(() => import("./settings/Tokens").then((m) => m.TokensSettings));
// Its own chunk (with Admin → Bots' dialogs); it renders nothing unless the server
// lets users create bots or the user owns some.
const MyBotsSection = lazyComponent(() => import("./settings/MyBots").then((m) => m.MyBotsSection));

/**
 * The account page (/settings): profile, email address, password, signed-in devices,
 * two-factor authentication, API tokens, the user's own bots. The server is the authority on every rule (the password policy above
 * all); the checks here only save a round trip for the obvious mistakes, and whatever
 * the server answers is shown as it said it.
 */

export function Settings() {
  // Bumped when something elsewhere on the page ends sessions (a password change), so
  // the device list reloads.
  const [sessionsVersion, setSessionsVersion] = useState(0);
  return (
    <section class="settings pad" aria-labelledby="settings-title">
      <h1 id="settings-title">Account</h1>
      <ProfileSection />
      <EmailSection />
      <PasswordSection onOtherSessionsEnded={() => setSessionsVersion((v) => v + 1)} />
      <SessionsSection version={sessionsVersion} />
      <NoticesSection />
      <TwoFactorSection>
        <TwoFactorContent onOtherSessionsEnded={() => setSessionsVersion((v) => v + 1)} />
      </TwoFactorSection>
      <SettingsSection id="tokens" title="API tokens" testId="tokens-section">
        <TokensSettings />
      </SettingsSection>
      <MyBotsSection />
    </section>
  );
}

function SettingsSection(props: { id: string; title: string; testId?: string; children: ComponentChildren }) {
  return (
    <section class="settings-section" aria-labelledby={`${props.id}-title`} data-testid={props.testId}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.children}
    </section>
  );
}


// ---- profile --------------------------------------------------------------------------

function ProfileSection() {
  const client = useClient();
  const me = useAppState((s) => s.me);
  const [name, setName] = useState(me?.display_name ?? "");
  const { busy, error, setError, run } = useAction();
  const [saved, setSaved] = useState(false);

  if (!me) return null;
  const trimmed = name.trim();

  async function save(e: Event) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    if (!trimmed) {
      setError("The display name can't be empty.");
      return;
    }
    await run(async () => {
      const user = await api.updateMe(trimmed);
      // The stream brings the same change as a user.updated event; applying the answer
      // now updates the header even while the stream is reconnecting.
      client.dispatch({ type: "event", event: { seq: 0, type: "user.updated", data: user } });
      setName(user.display_name);
      setSaved(true);
    });
  }

  return (
    <SettingsSection id="profile" title="Profile">
      <form class="form settings-form" onSubmit={save} noValidate>
        <p class="muted">
          Username: <span class="settings-username">{me.username}</span>
        </p>
        <label for="settings-display-name">Display name</label>
        <input
          id="settings-display-name"
          name="display-name"
          autoComplete="name"
          maxLength={128}
          required
          value={name}
          aria-invalid={error ? "true" : undefined}
          onInput={(e) => {
            setName(e.currentTarget.value);
            setSaved(false);
          }}
        />
        <ErrorAlert testId="profile-error" text={error} />
        <SuccessNote text={saved ? "Saved." : null} testId="profile-saved" />
        <button type="submit" class="primary" data-testid="profile-save" disabled={busy || trimmed === me.display_name}>
          {busy ? "Saving…" : "Save"}
        </button>
      </form>
    </SettingsSection>
  );
}

// ---- email address --------------------------------------------------------------------

/**
 * Where password reset links go. Changing it needs the current password (the server
 * insists): the address decides who can take the account over by mail, so a stolen
 * session alone must not be able to redirect it. An empty field removes the address.
 */
function EmailSection() {
  // undefined: loading; null: no address.
  const [current, setCurrent] = useState<string | null | undefined>(undefined);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: "email" | "password" | null; text: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const passwordField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let live = true;
    api.myEmail().then(
      (r) => {
        if (!live) return;
        setCurrent(r.email);
        // The current address to edit, unless something was typed while it loaded.
        setEmail((typed) => typed || (r.email ?? ""));
      },
      (err) => live && setError({ field: null, text: errorText(err) }),
    );
    return () => {
      live = false;
    };
  }, []);

  const wanted = email.trim();

  async function save(e: Event) {
    e.preventDefault();
    if (busy) return;
    setError(null);
    setSaved(null);
    if (!password) {
      setError({ field: "password", text: "Enter your current password to change your email address." });
      passwordField.current?.focus();
      return;
    }
    setBusy(true);
    try {
      const r = await api.setMyEmail(wanted === "" ? null : wanted, password);
      setCurrent(r.email);
      setEmail(r.email ?? "");
      setPassword("");
      setSaved(r.email === null ? "Email address removed." : "Email address saved.");
    } catch (err) {
      // The server's words: a malformed address, a wrong password, one already in use.
      setError({ field: null, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <SettingsSection id="email" title="Email address" testId="email-section">
      <p class="muted">
        Current address:{" "}
        <span class="settings-username" data-testid="email-current">
          {current === undefined ? "…" : (current ?? "None")}
        </span>
      </p>
      <p class="muted">
        Password reset links are sent here. It isn't shown to other users. Leave the field
        empty to remove it.
      </p>
      <form class="form settings-form" onSubmit={save} noValidate>
        <label for="settings-email">New address</label>
        <input
          id="settings-email"
          name="email"
          type="email"
          autoComplete="email"
          maxLength={254}
          value={email}
          aria-invalid={error?.field === "email" ? "true" : undefined}
          onInput={(e) => {
            setEmail(e.currentTarget.value);
            setSaved(null);
          }}
        />
        <label for="settings-email-password">Current password</label>
        <input
          ref={passwordField}
          id="settings-email-password"
          name="email-current-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          aria-invalid={error?.field === "password" ? "true" : undefined}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <ErrorAlert testId="email-error" text={error?.text ?? null} />
        <SuccessNote text={saved} testId="email-saved" />
        <button
          type="submit"
          class="primary"
          data-testid="email-save"
          disabled={busy || current === undefined || wanted === (current ?? "")}
        >
          {busy ? "Saving…" : wanted === "" ? "Remove address" : "Save address"}
        </button>
      </form>
    </SettingsSection>
  );
}

// ---- password -------------------------------------------------------------------------

function PasswordSection(props: { onOtherSessionsEnded: () => void }) {
  const me = useAppState((s) => s.me);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field: "current" | "new" | "confirm" | null; text: string } | null>(null);
  const [changed, setChanged] = useState(false);
  const fields = {
    current: useRef<HTMLInputElement>(null),
    new: useRef<HTMLInputElement>(null),
    confirm: useRef<HTMLInputElement>(null),
  };

  if (!me) return null;

  function fail(field: "current" | "new" | "confirm" | null, text: string) {
    setError({ field, text });
    if (field) fields[field].current?.focus();
  }

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    setError(null);
    setChanged(false);
    if (!current) return fail("current", "Enter your current password.");
    const problem = passwordProblem(next, confirm);
    if (problem) return fail(problem.field, problem.text);
    setBusy(true);
    try {
      await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      setConfirm("");
      setChanged(true);
      props.onOtherSessionsEnded();
    } catch (err) {
      // The server's words, whatever they are: it knows the policy and the password.
      fail(null, errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const invalid = (field: "current" | "new" | "confirm") => (error?.field === field ? "true" : undefined);

  return (
    <SettingsSection id="password" title="Password">
      <form class="form settings-form" onSubmit={submit} noValidate>
        {/* For password managers: which account this new password belongs to. */}
        <input type="text" name="account-username" autoComplete="username" value={me.username} readOnly hidden />
        <label for="settings-current-password">Current password</label>
        <input
          ref={fields.current}
          id="settings-current-password"
          name="current-password"
          type="password"
          autoComplete="current-password"
          required
          value={current}
          aria-invalid={invalid("current")}
          onInput={(e) => setCurrent(e.currentTarget.value)}
        />
        <label for="settings-new-password">New password</label>
        <input
          ref={fields.new}
          id="settings-new-password"
          name="new-password"
          type="password"
          autoComplete="new-password"
          required
          aria-describedby="settings-new-password-hint"
          value={next}
          aria-invalid={invalid("new")}
          onInput={(e) => setNext(e.currentTarget.value)}
        />
        <p id="settings-new-password-hint" class="hint muted">
          At least {MIN_PASSWORD_CHARS} characters; not a common password and not your name.
        </p>
        <label for="settings-confirm-password">Confirm new password</label>
        <input
          ref={fields.confirm}
          id="settings-confirm-password"
          name="confirm-password"
          type="password"
          autoComplete="new-password"
          required
          value={confirm}
          aria-invalid={invalid("confirm")}
          onInput={(e) => setConfirm(e.currentTarget.value)}
        />
        <ErrorAlert testId="password-error" text={error?.text ?? null} />
        <SuccessNote
          text={changed ? "Password changed. Other devices were signed out." : null}
          testId="password-changed"
        />
        <button type="submit" class="primary" data-testid="password-save" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </SettingsSection>
  );
}

// ---- sessions -------------------------------------------------------------------------

function SessionsSection(props: { version: number }) {
  const { items: sessions, error, notice, act, reload } = useManagedList(api.sessions, [props.version]);
  const [confirmDialog, ask] = useConfirm();

  const others = sessions?.filter((s) => !s.current) ?? [];

  return (
    <SettingsSection id="sessions" title="Where you're signed in">
      {confirmDialog}
      <p class="muted">
        Signing a device out ends its session at once; it has to log in again. Don't recognise one? Sign it out and
        change your password.
      </p>
      <ErrorAlert testId="sessions-error" text={error} />
      <SuccessNote text={notice} testId="sessions-notice" />
      {sessions === null ? (
        !error && <p class="muted">Loading…</p>
      ) : (
        <SessionList
          sessions={sessions}
          rowTestId="session-row"
          label="Signed-in devices"
          actions={(s) =>
            !s.current && (
              <button
                type="button"
                data-testid="session-revoke"
                aria-label={`Sign out ${deviceLabel(s.user_agent)} (${s.ip})`}
                onClick={() =>
                  ask({
                    title: "Sign out device",
                    text: `Sign out ${deviceLabel(s.user_agent)} at ${s.ip}? It will have to log in again.`,
                    confirmLabel: "Sign out",
                    onConfirm: () =>
                      void act(async () => {
                        await api.endSession(s.id);
                        return "That device was signed out.";
                      }),
                  })
                }
              >
                Sign out
              </button>
            )
          }
        />
      )}
      <div class="settings-actions">
        <button
          type="button"
          data-testid="sessions-revoke-others"
          disabled={others.length === 0}
          onClick={() =>
            ask({
              title: "Sign out everywhere else",
              text: "Sign out every other device? This one stays signed in.",
              confirmLabel: "Sign out everywhere else",
              onConfirm: () =>
                void act(async () => {
                  const { ended } = await api.endOtherSessions();
                  return ended === 1 ? "1 other session was signed out." : `${ended} other sessions were signed out.`;
                }),
            })
          }
        >
          Sign out everywhere else
        </button>
        <button type="button" onClick={() => void reload()}>
          Refresh
        </button>
      </div>
    </SettingsSection>
  );
}

// ---- two-factor authentication ---------------------------------------------------------

/** The two-factor section's frame; the content lives in TwoFactor.tsx. */
export function TwoFactorSection(props: { children: ComponentChildren }) {
  return (
    <SettingsSection id="twofa" title="Two-factor authentication" testId="twofa-section">
      {props.children}
    </SettingsSection>
  );
}

function TwoFactorContent(props: { onOtherSessionsEnded: () => void }) {
  const me = useAppState((s) => s.me);
  if (!me) return null;
  return <TwoFactorSettings username={me.username} onOtherSessionsEnded={props.onOtherSessionsEnded} />;
}
