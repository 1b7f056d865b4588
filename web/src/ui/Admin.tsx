import { useEffect, useState } from "preact/hooks";

import { api, fetchAll } from "../lib/api";
import { auditExportUrl, auditQuery, EMPTY_AUDIT_FILTERS, type AuditFilterForm, type AuditQuery } from "../lib/audit";
import type { AdminSection } from "../lib/router";
import { toggled } from "../lib/sets";
import type { AuditEntry, RoomView, SecuritySettings, UserView } from "../lib/types";
import { useConfirm } from "./Confirm";
import { Dialog } from "./Dialog";
import { ErrorAlert, SuccessNote } from "./Feedback";
import { errorText, useAction, useAppState, useManagedList } from "./hooks";
import { lazyComponent } from "./lazy";
import { SessionList } from "./Sessions";
import { DataTable } from "./Table";

const SECTIONS: { id: AdminSection; label: string }[] = [
  { id: "users", label: "Users" },
  { id: "rooms", label: "Rooms" },
  { id: "audit", label: "Audit log" },
  { id: "security", label: "Security" },
  { id: "integrations", label: "Integrations" },
  { id: "tokens", label: "API tokens" },
  { id: "bots", label: "Bots" },
  { id: "doctor", label: "Doctor" },
];

// Pages few admins open often: their own chunks, fetched when first shown.
const Integrations = lazyComponent(() => import("./admin/Integrations").then((m) => m.Integrations));
const AdminTokens = lazyComponent(() => import("./admin/Tokens").then((m) => m.AdminTokens));
const AdminBots = lazyComponent(() => import("./admin/Bots").then((m) => m.AdminBots));
const Doctor = lazyComponent(() => import("./admin/Doctor").then((m) => m.Doctor));

export function Admin({ section }: { section: AdminSection }) {
  const me = useAppState((s) => s.me);
  if (me?.role !== "admin") {
    return (
      <div class="empty-state" data-testid="not-allowed">
        <h1>Not allowed</h1>
        <p>Only administrators can see this page.</p>
      </div>
    );
  }
  return (
    <section class="admin pad" aria-labelledby="admin-title">
      <h1 id="admin-title">Administration</h1>
      <nav class="tabs" aria-label="Admin sections">
        {SECTIONS.map((s) => (
          <a key={s.id} href={`/admin/${s.id}`} aria-current={s.id === section ? "page" : undefined}>
            {s.label}
          </a>
        ))}
      </nav>
      {section === "users" && <AdminUsers />}
      {section === "rooms" && <AdminRooms />}
      {section === "audit" && <AuditLog />}
      {section === "security" && <SecurityPolicy />}
      {section === "integrations" && <Integrations />}
      {section === "tokens" && <AdminTokens />}
      {section === "bots" && <AdminBots />}
      {section === "doctor" && <Doctor />}
    </section>
  );
}

type NewRole = "admin" | "user" | "guest";

function AdminUsers() {
  const me = useAppState((s) => s.me);
  const { items: users, put, error, notice, act } = useManagedList(() => fetchAll(api.adminUsers));
  const [form, setForm] = useState({ username: "", displayName: "", password: "", role: "user" as NewRole });
  const [confirmDialog, ask] = useConfirm();
  const [sessionsOf, setSessionsOf] = useState<UserView | null>(null);

  // The server answers each change with the user as it is now: that row is put in place,
  // not the whole list loaded again.
  const change = (call: () => Promise<UserView>) => act(async () => put(await call()), { reload: false });

  async function create(e: Event) {
    e.preventDefault();
    await change(async () => {
      const body: Parameters<typeof api.createUser>[0] = {
        username: form.username.trim(),
        password: form.password,
        role: form.role,
      };
      if (form.displayName.trim()) body.display_name = form.displayName.trim();
      const user = await api.createUser(body);
      setForm({ username: "", displayName: "", password: "", role: "user" });
      return user;
    });
  }

  /** A lost phone: the second factor and every session of the user go; they enrol again. */
  const resetTwoFactor = (user: UserView) =>
    act(
      async () => {
        await api.adminResetTwoFactor(user.id);
        return `Two-factor authentication of ${user.username} was reset. They were signed out everywhere.`;
      },
      { reload: false },
    );

  return (
    <>
      {confirmDialog}
      {sessionsOf && <UserSessionsDialog user={sessionsOf} onClose={() => setSessionsOf(null)} />}
      <form class="form admin-create" onSubmit={create} aria-label="Create user">
        <h2>Create a user</h2>
        <label for="new-username">Username</label>
        <input id="new-username" name="new-username" required maxLength={64} value={form.username} onInput={(e) => setForm({ ...form, username: e.currentTarget.value })} />
        <label for="new-display-name">Display name</label>
        <input id="new-display-name" name="new-display-name" maxLength={128} value={form.displayName} onInput={(e) => setForm({ ...form, displayName: e.currentTarget.value })} />
        <label for="new-password">Password</label>
        <input id="new-password" name="new-password" type="password" autoComplete="new-password" required value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
        <label for="new-role">Role</label>
        <select id="new-role" name="new-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value as NewRole })}>
          <option value="user">User</option>
          <option value="admin">Admin</option>
          <option value="guest">Guest</option>
        </select>
        <button type="submit" class="primary" data-testid="admin-create-user">
          Create user
        </button>
      </form>
      <ErrorAlert text={error} />
      <SuccessNote text={notice} testId="admin-notice" />
      {users === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <DataTable caption="Users" columns={["Username", "Name", "Role", "Status", "Actions"]}>
          {users.map((u) => (
            <tr key={u.id} data-testid="admin-user" data-username={u.username}>
              <td>{u.username}</td>
              <td>{u.display_name}</td>
              <td>
                {u.role === "bot" ? (
                  "bot"
                ) : (
                  <select
                    data-testid="admin-role"
                    aria-label={`Role of ${u.username}`}
                    value={u.role}
                    onChange={(e) => {
                      const role = e.currentTarget.value as NewRole;
                      void change(() => api.setUserRole(u.id, role));
                    }}
                  >
                    <option value="user">User</option>
                    <option value="admin">Admin</option>
                    <option value="guest">Guest</option>
                  </select>
                )}
              </td>
              <td>{u.is_active ? "active" : "deactivated"}</td>
              <td>
                <button type="button" data-testid="admin-sessions" aria-label={`Sessions of ${u.username}`} onClick={() => setSessionsOf(u)}>
                  Sessions
                </button>
                {/* Not for bots (no login) nor oneself (turning it off needs the password and a code). */}
                {u.role !== "bot" && u.id !== me?.id && (
                  <button
                    type="button"
                    data-testid="admin-reset-2fa"
                    aria-label={`Reset two-factor authentication of ${u.username}`}
                    onClick={() =>
                      ask({
                        title: "Reset two-factor authentication",
                        text: `Reset ${u.username}'s two-factor authentication? Their authenticator app and recovery codes stop working and they are signed out everywhere. They can then sign in with their password and set it up again (at once, if their role requires it).`,
                        confirmLabel: "Reset",
                        onConfirm: () => void resetTwoFactor(u),
                      })
                    }
                  >
                    Reset 2FA
                  </button>
                )}
                {u.is_active && (
                  <button type="button" data-testid="admin-deactivate" aria-label={`Deactivate ${u.username}`} onClick={() =>
                      ask({
                        title: "Deactivate account",
                        text: `Deactivate ${u.username}? Their sessions end at once and they can no longer log in.`,
                        confirmLabel: "Deactivate",
                        onConfirm: () => void change(() => api.deactivateUser(u.id)),
                      })
                    }>
                    Deactivate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}

/**
 * One account's signed-in devices, and "Sign out everywhere" for a lost laptop or a
 * suspected break-in: every session ends and every event stream of theirs closes at once.
 */
function UserSessionsDialog(props: { user: UserView; onClose: () => void }) {
  const { user } = props;
  const { items: sessions, error, notice, act } = useManagedList(() => api.adminUserSessions(user.id), [user.id]);
  const [confirmDialog, ask] = useConfirm();

  const endAll = () =>
    act(async () => {
      const { ended } = await api.adminEndUserSessions(user.id);
      return ended === 1 ? "1 session was ended." : `${ended} sessions were ended.`;
    });

  return (
    <Dialog title={`Sessions of ${user.username}`} onClose={props.onClose} testId="admin-sessions-dialog">
      {confirmDialog}
      <ErrorAlert text={error} />
      <SuccessNote text={notice} />
      {sessions === null ? (
        !error && <p class="muted">Loading…</p>
      ) : (
        <SessionList sessions={sessions} rowTestId="admin-session-row" label={`Sessions of ${user.username}`} />
      )}
      <div class="dialog-actions">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
        <button
          type="button"
          class="danger"
          data-testid="admin-sessions-revoke"
          disabled={!sessions || sessions.length === 0}
          onClick={() =>
            ask({
              title: "Sign out everywhere",
              text: `Sign ${user.username} out on every device? They will have to log in again.`,
              confirmLabel: "Sign out everywhere",
              onConfirm: () => void endAll(),
            })
          }
        >
          Sign out everywhere
        </button>
      </div>
    </Dialog>
  );
}

function AdminRooms() {
  const { items: rooms, put, error, act } = useManagedList(() => fetchAll(api.adminRooms));
  const [confirmDialog, ask] = useConfirm();

  const archive = (room: RoomView) =>
    act(async () => put(await api.updateRoom(room.id, { archived: !room.archived })), { reload: false });

  return (
    <>
      {confirmDialog}
      <ErrorAlert text={error} />
      {rooms === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <DataTable caption="Rooms" columns={["Name", "Kind", "Members", "Status", "Actions"]}>
          {rooms.map((r) => (
            <tr key={r.id} data-testid="admin-room" data-room-id={r.id}>
              <td>{r.name ?? "(direct message)"}</td>
              <td>{r.kind}</td>
              <td>{r.member_count}</td>
              <td>{r.archived ? "archived" : "active"}</td>
              <td>
                {r.kind !== "dm" && (
                  <button type="button" data-testid="admin-archive" aria-label={`${r.archived ? "Unarchive" : "Archive"} ${r.name ?? "room"}`} onClick={() =>
                    r.archived
                      ? void archive(r)
                      : ask({
                          title: "Archive room",
                          text: `Archive ${r.name ?? "this room"}? It becomes read-only for every member.`,
                          confirmLabel: "Archive",
                          onConfirm: () => void archive(r),
                        })
                  }>
                    {r.archived ? "Unarchive" : "Archive"}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}

/**
 * The audit log, newest first, with filters (action prefix, actor, target type, a time
 * range) and exports of what the filters select. The exports are plain links: a GET
 * with the session cookie, the filters in the URL (lib/audit.ts).
 */
function AuditLog() {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [more, setMore] = useState(true);
  const [form, setForm] = useState<AuditFilterForm & { actor: string }>({ ...EMPTY_AUDIT_FILTERS, actor: "" });
  // The filters in force (the list and the export links use these, not the form as typed).
  const [applied, setApplied] = useState<AuditQuery>({});
  const filtering = useAction();

  const load = (query: AuditQuery, before?: string) =>
    api.audit(before, query).then(
      (page) => {
        setEntries((list) => [...(before ? (list ?? []) : []), ...page]);
        setMore(page.length >= 100);
        setError(null);
      },
      (err) => setError(errorText(err)),
    );
  useEffect(() => void load({}), []);

  /** A username, or a numeric user id as is. */
  async function actorId(actor: string): Promise<string | null> {
    const typed = actor.trim().replace(/^@/, "");
    if (!typed || /^[0-9]{1,20}$/.test(typed)) return typed;
    const found = await api.findUser(typed);
    return found.find((u) => u.username === typed)?.id ?? null;
  }

  async function apply(e: Event) {
    e.preventDefault();
    await filtering.run(async () => {
      const id = await actorId(form.actor);
      if (id === null) throw new FilterProblem(`No user named ${form.actor.trim()}.`);
      const checked = auditQuery({ ...form, actorId: id });
      if (!checked.ok) throw new FilterProblem(checked.error);
      setApplied(checked.query);
      setEntries(null);
      await load(checked.query);
    }, (err) => (err instanceof FilterProblem ? err.message : errorText(err)));
  }

  function clear() {
    setForm({ ...EMPTY_AUDIT_FILTERS, actor: "" });
    filtering.setError(null);
    setApplied({});
    setEntries(null);
    void load({});
  }

  const set = (key: keyof AuditFilterForm | "actor") => (e: { currentTarget: HTMLInputElement }) =>
    setForm({ ...form, [key]: e.currentTarget.value });

  return (
    <>
      <form class="audit-filters" onSubmit={apply} aria-label="Filter the audit log" data-testid="audit-filters">
        <div class="audit-filter">
          <label for="audit-action">Action starts with</label>
          <input id="audit-action" name="audit-action" maxLength={64} placeholder="hook." value={form.action} onInput={set("action")} />
        </div>
        <div class="audit-filter">
          <label for="audit-actor">Actor (username)</label>
          <input id="audit-actor" name="audit-actor" maxLength={64} value={form.actor} onInput={set("actor")} />
        </div>
        <div class="audit-filter">
          <label for="audit-target">Target type</label>
          <input id="audit-target" name="audit-target" maxLength={64} placeholder="user" value={form.targetType} onInput={set("targetType")} />
        </div>
        <div class="audit-filter">
          <label for="audit-since">From</label>
          <input id="audit-since" name="audit-since" type="datetime-local" value={form.since} onInput={set("since")} />
        </div>
        <div class="audit-filter">
          <label for="audit-until">Until</label>
          <input id="audit-until" name="audit-until" type="datetime-local" value={form.until} onInput={set("until")} />
        </div>
        <div class="audit-filter-actions">
          <button type="submit" class="primary" data-testid="audit-apply" disabled={filtering.busy}>
            Filter
          </button>
          <button type="button" data-testid="audit-clear" onClick={clear}>
            Clear
          </button>
          <a class="button" data-testid="audit-export-csv" href={auditExportUrl("csv", applied)} download>
            Export CSV
          </a>
          <a class="button" data-testid="audit-export-jsonl" href={auditExportUrl("jsonl", applied)} download>
            Export JSONL
          </a>
        </div>
      </form>
      <ErrorAlert text={filtering.error} testId="audit-filter-error" />
      <ErrorAlert text={error} />
      {entries === null ? (
        !error && <p class="muted">Loading…</p>
      ) : entries.length === 0 ? (
        <p class="muted" data-testid="audit-empty">
          No entries.
        </p>
      ) : (
        <DataTable caption="Audit log, newest first" columns={["When", "Action", "Actor", "Target", "IP"]}>
          {entries.map((a) => (
            <tr key={a.id} data-testid="audit-entry">
              <td>
                <time dateTime={a.at}>{new Date(a.at).toLocaleString()}</time>
              </td>
              <td>{a.action}</td>
              <td>{a.actor_id ?? "—"}</td>
              <td>
                {a.target_type}
                {a.target_id ? ` ${a.target_id}` : ""}
              </td>
              <td>{a.ip}</td>
            </tr>
          ))}
        </DataTable>
      )}
      {entries && more && entries.length > 0 && (
        <button type="button" onClick={() => void load(applied, entries[entries.length - 1]?.id)}>
          Older entries
        </button>
      )}
    </>
  );
}

/** A problem with the filters as typed (shown as is, not as a server error). */
class FilterProblem extends Error {}

type PolicyRole = SecuritySettings["require_2fa_roles"][number];

const POLICY_ROLES: { role: PolicyRole; label: string }[] = [
  { role: "admin", label: "Admins" },
  { role: "user", label: "Users" },
  { role: "guest", label: "Guests" },
];

/** Which roles must use a second factor. Saved on the server (audited); it applies from
 *  each user's next login, so nobody is signed out by a change. */
function SecurityPolicy() {
  const [roles, setRoles] = useState<Set<PolicyRole> | null>(null);
  const [saved, setSaved] = useState(false);
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    api.securitySettings().then(
      (s) => setRoles(new Set(s.require_2fa_roles)),
      (err) => setError(errorText(err)),
    );
  }, []);

  function toggle(role: PolicyRole, on: boolean) {
    setSaved(false);
    setRoles((current) => toggled(current, role, on));
  }

  async function save(e: Event) {
    e.preventDefault();
    if (!roles) return;
    setSaved(false);
    await run(async () => {
      const chosen = POLICY_ROLES.map((r) => r.role).filter((r) => roles.has(r));
      const stored = await api.saveSecuritySettings({ require_2fa_roles: chosen });
      setRoles(new Set(stored.require_2fa_roles));
      setSaved(true);
    });
  }

  return (
    <>
      <ErrorAlert text={error} />
      <SuccessNote
        text={saved ? "Saved. It applies from each user’s next sign-in; nobody is signed out now." : null}
        testId="admin-security-saved"
      />
      {roles === null ? (
        !error && <p class="muted">Loading…</p>
      ) : (
        <form class="form" onSubmit={save} aria-label="Security policy">
          <fieldset>
            <legend>Roles that must use two-factor authentication</legend>
            <p class="muted small">
              Someone in a checked role who hasn&rsquo;t set up a second factor can only set one up after
              signing in, and can&rsquo;t turn it off.
            </p>
            {POLICY_ROLES.map(({ role, label }) => (
              <label key={role} class="checkbox">
                <input
                  type="checkbox"
                  name={`require-2fa-${role}`}
                  checked={roles.has(role)}
                  onChange={(e) => toggle(role, e.currentTarget.checked)}
                />{" "}
                {label}
              </label>
            ))}
          </fieldset>
          <button type="submit" class="primary" disabled={busy} data-testid="admin-security-save">
            Save
          </button>
        </form>
      )}
    </>
  );
}
