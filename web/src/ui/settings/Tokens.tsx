import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { toggled } from "../../lib/sets";
import { roomLabel, sortedRooms } from "../../lib/store";
import { absoluteTime } from "../../lib/time";
import {
  checkGraceHours,
  checkTokenForm,
  isLive,
  statusText,
  tokensApi,
  type TokenActivity,
  type TokenFormField,
  type TokenPolicy,
  type TokenView,
} from "../../lib/tokens";
import { useConfirm } from "../Confirm";
import { Dialog, DialogFormActions } from "../Dialog";
import { ErrorAlert, SuccessNote } from "../Feedback";
import { errorText, useAction, useAppState, useClient, useManagedList } from "../hooks";
import { SecretDialog, useSecretOnce } from "../SecretDialog";
import { DataTable, Listing } from "../Table";

/**
 * Settings → API tokens: your personal access tokens. Create (scopes, rooms, address
 * ranges, expiry), rotate (a new token; the old one keeps working for the grace period
 * you choose), revoke, and see where each was used. A new token's secret is shown once,
 * in a dialog, and forgotten when that dialog closes.
 *
 * Loaded on demand (ui/lazy.tsx): it is not in the first load.
 */
export function TokensSettings() {
  const [policy, setPolicy] = useState<TokenPolicy | null>(null);
  const { items: tokens, error, setError, notice, setNotice, put, reload, act } = useManagedList(tokensApi.list);
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<TokenView | null>(null);
  const [activityOf, setActivityOf] = useState<TokenView | null>(null);
  const [secret, showSecret, closeSecret] = useSecretOnce();
  const [confirmDialog, ask] = useConfirm();

  useEffect(() => {
    tokensApi.policy().then(setPolicy, (err) => setError(errorText(err)));
  }, []);

  const revoke = (token: TokenView) =>
    act(async () => {
      await tokensApi.revoke(token.id);
      return `The token "${token.name}" was revoked.`;
    });

  return (
    <div data-testid="tokens">
      {confirmDialog}
      <p class="muted">
        A token lets a script or bot use the API as you, limited to the scopes, rooms and addresses you choose. A token
        can&rsquo;t create tokens or change your password or two-factor authentication.
      </p>
      <ErrorAlert testId="tokens-error" text={error} />
      <SuccessNote testId="tokens-notice" text={notice} />
      <div class="settings-actions">
        <button type="button" class="primary" data-testid="token-new" disabled={!policy} onClick={() => setCreating(true)}>
          New token
        </button>
      </div>
      <Listing items={tokens} error={error} empty="You have no tokens." emptyTestId="tokens-empty">
        {(list) => (
          <TokenTable
            tokens={list}
            caption="Your API tokens"
            actions={(t) => (
              <>
                <button type="button" data-testid="token-activity" aria-label={`Activity of ${t.name}`} onClick={() => setActivityOf(t)}>
                  Activity
                </button>
                {t.status === "active" && policy && (
                  <button type="button" data-testid="token-rotate" aria-label={`Rotate ${t.name}`} onClick={() => setRotating(t)}>
                    Rotate
                  </button>
                )}
                {isLive(t) && (
                  <button
                    type="button"
                    class="danger"
                    data-testid="token-revoke"
                    aria-label={`Revoke ${t.name}`}
                    onClick={() =>
                      ask({
                        title: "Revoke token",
                        text: `Revoke "${t.name}" (${t.hint}…)? Anything using it stops working at once. This can't be undone.`,
                        confirmLabel: "Revoke",
                        onConfirm: () => void revoke(t),
                      })
                    }
                  >
                    Revoke
                  </button>
                )}
              </>
            )}
          />
        )}
      </Listing>

      {creating && policy && (
        <CreateTokenDialog
          policy={policy}
          onClose={() => setCreating(false)}
          onCreated={(token, value) => {
            setCreating(false);
            setNotice(null);
            put(token, "first");
            showSecret({ title: "Token created", items: [{ label: `Token "${token.name}"`, value }] });
          }}
        />
      )}
      {rotating && policy && (
        <RotateDialog
          token={rotating}
          policy={policy}
          onClose={() => setRotating(null)}
          onRotated={(token, value) => {
            setRotating(null);
            void reload();
            showSecret({ title: "Token rotated", items: [{ label: `New token "${token.name}"`, value }] });
          }}
        />
      )}
      {activityOf && <ActivityDialog token={activityOf} onClose={() => setActivityOf(null)} />}
      {secret && <SecretDialog secret={secret} onClose={closeSecret} />}
    </div>
  );
}

/** The rooms named by id, as the user knows them; "All rooms" for no restriction. */
export function useRoomNames(): (ids: string[] | null) => string {
  const client = useClient();
  const rooms = useAppState((s) => s.rooms);
  return (ids) => {
    if (ids === null) return "All rooms";
    if (ids.length === 0) return "None";
    return ids
      .map((id) => {
        const entry = rooms?.get(id);
        return entry ? roomLabel(entry.room, client.store.state) : `room ${id}`;
      })
      .join(", ");
  };
}

export function TokenTable<T extends TokenView>(props: {
  tokens: T[];
  caption: string;
  owner?: (token: T) => string;
  actions: (token: T) => ComponentChildren;
  rowTestId?: string;
}) {
  const roomNames = useRoomNames();
  return (
    <DataTable
      caption={props.caption}
      class="token-table"
      columns={["Name", ...(props.owner ? ["Owner"] : []), "Scopes", "Rooms", "Addresses", "Expires", "Last used", "Status", "Actions"]}
    >
      {props.tokens.map((t) => (
        <tr
          key={t.id}
          data-testid={props.rowTestId ?? "token-row"}
          data-token-id={t.id}
          data-status={t.status}
          class={isLive(t) ? "" : "inactive"}
        >
          <td>
            <span class="token-name" data-testid="token-name">
              {t.name}
            </span>{" "}
            <code class="muted small" data-testid="token-hint" title="The token starts with this">
              {t.hint}…
            </code>
          </td>
          {props.owner && <td data-testid="token-owner">{props.owner(t)}</td>}
          <td>{t.scopes.join(", ")}</td>
          <td>{props.owner ? (t.room_ids === null ? "All rooms" : t.room_ids.join(", ")) : roomNames(t.room_ids)}</td>
          <td>{t.networks === null || t.networks.length === 0 ? "Anywhere" : t.networks.join(", ")}</td>
          <td>{t.expires_at ? <time dateTime={t.expires_at}>{absoluteTime(t.expires_at)}</time> : "Never"}</td>
          <td>
            {t.last_used_at ? (
              <>
                <time dateTime={t.last_used_at}>{absoluteTime(t.last_used_at)}</time>
                {t.last_used_ip ? ` from ${t.last_used_ip}` : ""}
              </>
            ) : (
              "Never"
            )}
          </td>
          <td data-testid="token-status">{statusText(t.status)}</td>
          <td class="row-actions">{props.actions(t)}</td>
        </tr>
      ))}
    </DataTable>
  );
}

// ---- create -------------------------------------------------------------------------------

function CreateTokenDialog(props: {
  policy: TokenPolicy;
  onClose: () => void;
  onCreated: (token: TokenView, secret: string) => void;
}) {
  const { policy } = props;
  const client = useClient();
  const me = useAppState((s) => s.me);
  const roomsState = useAppState((s) => s.rooms);
  const rooms = useMemo(() => sortedRooms(client.store.state).filter((e) => !e.room.archived), [roomsState]);
  // The admin scope is for admins' tokens only; the server refuses it to anyone else anyway.
  const scopes = policy.scopes.filter((s) => s.scope !== "admin" || me?.role === "admin");

  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [restrictRooms, setRestrictRooms] = useState(false);
  const [roomIds, setRoomIds] = useState<Set<string>>(new Set());
  const [networks, setNetworks] = useState("");
  const [days, setDays] = useState(String(policy.default_days));
  const [field, setField] = useState<TokenFormField | null>(null);
  const { busy, error, setError, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    const checked = checkTokenForm({ name, scopes: chosen, restrictRooms, roomIds, networks, days }, policy);
    if (!checked.ok) {
      setField(checked.field);
      setError(checked.error);
      return;
    }
    setField(null);
    await run(async () => {
      const issued = await tokensApi.create(checked.body);
      props.onCreated(issued.token, issued.secret);
    });
  }

  const invalid = (f: TokenFormField) => (field === f ? "true" : undefined);
  const daysHint =
    policy.max_days === null
      ? `Default ${policy.default_days} days. Leave empty for a token that never expires.`
      : `Default ${policy.default_days} days, at most ${policy.max_days}.`;

  return (
    <Dialog title="New API token" onClose={props.onClose} testId="token-create-dialog">
      <form class="form token-form" onSubmit={submit} noValidate>
        <label for="token-name">Name</label>
        <input
          id="token-name"
          name="token-name"
          required
          maxLength={64}
          value={name}
          aria-invalid={invalid("name")}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <fieldset class={field === "scopes" ? "invalid" : undefined}>
          <legend>Scopes</legend>
          {scopes.map((s) => (
            <label key={s.scope} class="checkbox">
              <input
                type="checkbox"
                name="token-scope"
                value={s.scope}
                checked={chosen.has(s.scope)}
                onChange={(e) => setChosen((c) => toggled(c, s.scope, e.currentTarget.checked))}
              />{" "}
              <code>{s.scope}</code> <span class="muted">{s.description}</span>
            </label>
          ))}
        </fieldset>
        <fieldset class={field === "rooms" ? "invalid" : undefined}>
          <legend>Rooms</legend>
          <label class="checkbox">
            <input
              type="radio"
              name="token-rooms-mode"
              value="all"
              checked={!restrictRooms}
              onChange={() => setRestrictRooms(false)}
            />{" "}
            Every room I&rsquo;m in
          </label>
          <label class="checkbox">
            <input
              type="radio"
              name="token-rooms-mode"
              value="some"
              checked={restrictRooms}
              onChange={() => setRestrictRooms(true)}
            />{" "}
            Only these rooms:
          </label>
          {restrictRooms && (
            <div class="room-picker" role="group" aria-label="Rooms the token may use">
              {rooms.length === 0 && <p class="muted small">You aren&rsquo;t in any room.</p>}
              {rooms.map((entry) => (
                <label key={entry.room.id} class="checkbox">
                  <input
                    type="checkbox"
                    name="token-room"
                    value={entry.room.id}
                    checked={roomIds.has(entry.room.id)}
                    onChange={(e) => setRoomIds((r) => toggled(r, entry.room.id, e.currentTarget.checked))}
                  />{" "}
                  {roomLabel(entry.room, client.store.state)}
                </label>
              ))}
            </div>
          )}
        </fieldset>
        <label for="token-networks">Allowed addresses (optional)</label>
        <textarea
          id="token-networks"
          name="token-networks"
          rows={3}
          aria-describedby="token-networks-hint"
          aria-invalid={invalid("networks")}
          value={networks}
          onInput={(e) => setNetworks(e.currentTarget.value)}
        />
        <p id="token-networks-hint" class="hint muted small">
          Address ranges the token may be used from, one per line (like 203.0.113.0/24). Empty: from anywhere.
        </p>
        <label for="token-days">Expires after (days)</label>
        <input
          id="token-days"
          name="token-days"
          type="number"
          inputMode="numeric"
          min={1}
          max={policy.max_days ?? undefined}
          aria-describedby="token-days-hint"
          aria-invalid={invalid("days")}
          value={days}
          onInput={(e) => setDays(e.currentTarget.value)}
        />
        <p id="token-days-hint" class="hint muted small">
          {daysHint}
        </p>
        <ErrorAlert testId="token-form-error" text={error} />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="token-create-submit" label="Create token" busyLabel="Creating…" />
      </form>
    </Dialog>
  );
}

// ---- rotate -------------------------------------------------------------------------------

function RotateDialog(props: {
  token: TokenView;
  policy: TokenPolicy;
  onClose: () => void;
  onRotated: (token: TokenView, secret: string) => void;
}) {
  const { token, policy } = props;
  const [hours, setHours] = useState(String(Math.min(24, policy.max_grace_hours)));
  const { busy, error, setError, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    const checked = checkGraceHours(hours, policy);
    if (!checked.ok) {
      setError(checked.error);
      return;
    }
    await run(async () => {
      const issued = await tokensApi.rotate(token.id, checked.body);
      props.onRotated(issued.token, issued.secret);
    });
  }

  return (
    <Dialog title={`Rotate "${token.name}"`} onClose={props.onClose} testId="token-rotate-dialog">
      <form class="form" onSubmit={submit} noValidate>
        <p>
          A new token replaces this one, with the same scopes, rooms and addresses. The old one keeps working for the
          grace period, so you can swap it where it is used.
        </p>
        <label for="token-grace">Grace period (hours)</label>
        <input
          id="token-grace"
          name="token-grace"
          type="number"
          inputMode="numeric"
          min={0}
          max={policy.max_grace_hours}
          aria-describedby="token-grace-hint"
          aria-invalid={error ? "true" : undefined}
          value={hours}
          onInput={(e) => setHours(e.currentTarget.value)}
        />
        <p id="token-grace-hint" class="hint muted small">
          0 ends the old token now; at most {policy.max_grace_hours} hours.
        </p>
        <ErrorAlert testId="token-rotate-error" text={error} />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="token-rotate-submit" label="Rotate" busyLabel="Rotating…" />
      </form>
    </Dialog>
  );
}

// ---- activity -----------------------------------------------------------------------------

function ActivityDialog(props: { token: TokenView; onClose: () => void }) {
  const [activity, setActivity] = useState<TokenActivity | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    tokensApi.activity(props.token.id).then(
      (a) => live && setActivity(a),
      (err) => live && setError(errorText(err)),
    );
    return () => {
      live = false;
    };
  }, [props.token.id]);

  return (
    <Dialog title={`Activity of "${props.token.name}"`} onClose={props.onClose} testId="token-activity-dialog">
      <ErrorAlert text={error} />
      <Listing items={activity?.usage ?? null} error={error} empty="Not used yet." emptyTestId="token-usage-empty">
        {(usage) => (
          <DataTable caption="Requests per hour, newest first" columns={["Hour", "Address range", "Operation", "Requests"]}>
            {usage.map((u, i) => (
              <tr key={i} data-testid="token-usage-row">
                <td>
                  <time dateTime={u.hour}>{absoluteTime(u.hour)}</time>
                </td>
                <td>{u.network}</td>
                <td>{u.operation}</td>
                <td>{u.requests}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
      <div class="dialog-actions">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
