import { useEffect, useMemo, useState } from "preact/hooks";

import { api, fetchAll } from "../../lib/api";
import { secretItems, type ShownSecret } from "../../lib/secretOnce";
import { toggled } from "../../lib/sets";
import { absoluteTime } from "../../lib/time";
import type { RoomView } from "../../lib/types";
import {
  checkIncomingForm,
  checkOutgoingForm,
  HOOK_EVENTS,
  hooksApi,
  type DeliveryView,
  type IncomingField,
  type IncomingHookView,
  type OutgoingField,
  type OutgoingHookView,
} from "../../lib/webhooks";
import { useConfirm } from "../Confirm";
import { Dialog, DialogFormActions } from "../Dialog";
import { ErrorAlert, SuccessNote } from "../Feedback";
import { errorText, useAction, useManagedList } from "../hooks";
import { SecretDialog, useSecretOnce } from "../SecretDialog";
import { DataTable, Listing } from "../Table";

/**
 * Admin → Integrations: incoming webhooks (post into one room, signed requests; a
 * legacy URL-token mode for senders that can't sign, with a warning) and outgoing
 * webhooks (signed deliveries to a URL on events in chosen rooms, retried, with a
 * delivery log). Secrets are shown once, in a dialog, and forgotten when it closes.
 *
 * Every string a hook carries (names, URLs, room names, errors) is JSX text.
 */

export const LEGACY_WARNING =
  "Legacy URL token mode puts the secret in the URL. Anyone who sees that URL (in proxy or " +
  "server logs, browser history, a pasted config or the sender's settings) can post to this " +
  "room as this hook, and such requests carry no signature or timestamp to stop a replay. " +
  "Use it only for a sender that cannot sign requests, and rotate the URL if it may have leaked.";

/** A path from the server ("/api/v1/hooks/1") as the full address senders need. */
function absolute(url: string): string {
  try {
    return new URL(url, window.location.origin).href;
  } catch {
    return url;
  }
}

/** A new incoming hook's secret, or a rotated one: with its legacy URL and the warning, if it has one. */
function incomingSecret(title: string, secret: string, legacyUrl: string | null): ShownSecret {
  return {
    title,
    items: secretItems([
      ["Signing secret", secret],
      ["URL with its token", legacyUrl && absolute(legacyUrl)],
    ]),
    ...(legacyUrl ? { warning: LEGACY_WARNING } : {}),
  };
}

function useRooms(): { rooms: RoomView[] | null; error: string | null } {
  const [rooms, setRooms] = useState<RoomView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetchAll(api.adminRooms).then(setRooms, (err) => setError(errorText(err)));
  }, []);
  return { rooms, error };
}

export function Integrations() {
  const { rooms, error } = useRooms();
  return (
    <div class="integrations" data-testid="integrations">
      <ErrorAlert text={error} />
      <IncomingHooks rooms={rooms} />
      <OutgoingHooks rooms={rooms} />
    </div>
  );
}

/** Rooms a hook can use: channels and private rooms that aren't archived. */
function usable(rooms: RoomView[] | null): RoomView[] {
  return (rooms ?? []).filter((r) => r.kind !== "dm" && !r.archived).sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
}

// ---- incoming -------------------------------------------------------------------------------

function IncomingHooks(props: { rooms: RoomView[] | null }) {
  const { items: hooks, put, error, notice, setNotice, act } = useManagedList(hooksApi.incoming);
  const [secret, showSecret, closeSecret] = useSecretOnce();
  const [confirmDialog, ask] = useConfirm();

  const toggle = (h: IncomingHookView) =>
    act(async () => {
      await hooksApi.updateIncoming(h.id, { enabled: !h.enabled });
      return h.enabled ? `"${h.name}" is disabled: its requests are refused.` : `"${h.name}" is enabled.`;
    });

  const rotate = (h: IncomingHookView) =>
    act(async () => {
      const fresh = await hooksApi.rotateIncoming(h.id);
      showSecret(incomingSecret(`New secret for "${h.name}"`, fresh.secret, fresh.legacy_url));
      return `"${h.name}" has a new secret; the old one no longer works.`;
    });

  const endLegacy = (h: IncomingHookView) =>
    act(async () => {
      await hooksApi.updateIncoming(h.id, { legacy_url_token: false });
      return `"${h.name}" accepts signed requests only now; its URL token no longer works.`;
    });

  const remove = (h: IncomingHookView) =>
    act(async () => {
      await hooksApi.deleteIncoming(h.id);
      return `"${h.name}" was deleted.`;
    });

  return (
    <section class="settings-section" aria-labelledby="incoming-title" data-testid="incoming-hooks">
      {confirmDialog}
      <h2 id="incoming-title">Incoming webhooks</h2>
      <p class="muted">
        Each one posts into one room as its own identity, and can do nothing else. Senders sign each request with the
        hook&rsquo;s secret (headers <code>X-Redoubt-Timestamp</code> and <code>X-Redoubt-Signature</code>).
      </p>
      <CreateIncoming
        rooms={usable(props.rooms)}
        onCreated={(hook, value, legacyUrl) => {
          setNotice(null);
          put(hook);
          showSecret(incomingSecret(`Webhook "${hook.name}" created`, value, legacyUrl));
        }}
      />
      <ErrorAlert text={error} testId="incoming-error" />
      <SuccessNote text={notice} testId="incoming-notice" />
      <Listing items={hooks} error={error} empty="No incoming webhooks.">
        {(list) => (
          <DataTable caption="Incoming webhooks" columns={["Name", "Room", "Address", "Status", "Last used", "Actions"]}>
            {list.map((h) => (
              <tr key={h.id} data-testid="incoming-hook" data-hook-id={h.id} data-enabled={h.enabled ? "true" : "false"}>
                <td data-testid="hook-name">{h.name}</td>
                <td>{h.room_name ?? `room ${h.room_id}`}</td>
                <td>
                  <code class="hook-url">{absolute(h.url)}</code>
                  {h.legacy_url_token && (
                    <span class="tag warning-tag" data-testid="hook-legacy-tag" title={LEGACY_WARNING}>
                      Legacy URL token
                    </span>
                  )}
                </td>
                <td data-testid="hook-status">{h.enabled ? "Enabled" : "Disabled"}</td>
                <td>{absoluteTime(h.last_used_at, "Never")}</td>
                <td class="row-actions">
                  <button type="button" data-testid="hook-toggle" aria-label={`${h.enabled ? "Disable" : "Enable"} ${h.name}`} onClick={() => void toggle(h)}>
                    {h.enabled ? "Disable" : "Enable"}
                  </button>
                  {h.legacy_url_token && (
                    <button
                      type="button"
                      data-testid="hook-end-legacy"
                      aria-label={`End legacy URL mode of ${h.name}`}
                      onClick={() =>
                        ask({
                          title: "End legacy URL mode",
                          text: `Make "${h.name}" accept signed requests only? Its URL with the token stops working at once, and legacy mode can't be turned back on for it.`,
                          confirmLabel: "End legacy mode",
                          onConfirm: () => void endLegacy(h),
                        })
                      }
                    >
                      Signed only
                    </button>
                  )}
                  <button
                    type="button"
                    data-testid="hook-rotate"
                    aria-label={`New secret for ${h.name}`}
                    onClick={() =>
                      ask({
                        title: "New secret",
                        text: `Give "${h.name}" a new secret? The current one${h.legacy_url_token ? " and its URL" : ""} stop working at once; the sender needs the new one.`,
                        confirmLabel: "New secret",
                        onConfirm: () => void rotate(h),
                      })
                    }
                  >
                    New secret
                  </button>
                  <button
                    type="button"
                    class="danger"
                    data-testid="hook-delete"
                    aria-label={`Delete ${h.name}`}
                    onClick={() =>
                      ask({
                        title: "Delete webhook",
                        text: `Delete "${h.name}"? Its requests are refused from now on. Messages it posted stay.`,
                        confirmLabel: "Delete",
                        onConfirm: () => void remove(h),
                      })
                    }
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
      {secret && <SecretDialog secret={secret} onClose={closeSecret} />}
    </section>
  );
}

function CreateIncoming(props: {
  rooms: RoomView[];
  onCreated: (hook: IncomingHookView, secret: string, legacyUrl: string | null) => void;
}) {
  const [name, setName] = useState("");
  const [roomId, setRoomId] = useState("");
  const [avatarUrl, setAvatarUrl] = useState("");
  const [legacy, setLegacy] = useState(false);
  const [field, setField] = useState<IncomingField | null>(null);
  const { busy, error, setError, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    const checked = checkIncomingForm({ name, roomId, avatarUrl, legacy });
    if (!checked.ok) {
      setField(checked.field);
      setError(checked.error);
      return;
    }
    setField(null);
    const ok = await run(async () => {
      const created = await hooksApi.createIncoming(checked.body);
      props.onCreated(created.hook, created.secret, created.legacy_url);
    });
    if (ok) {
      setName("");
      setAvatarUrl("");
      setLegacy(false);
    }
  }

  const invalid = (f: IncomingField) => (field === f ? "true" : undefined);
  return (
    <form class="form admin-create" onSubmit={submit} noValidate aria-label="Create an incoming webhook">
      <h3>New incoming webhook</h3>
      <label for="hook-name">Name (shown as the poster)</label>
      <input id="hook-name" name="hook-name" maxLength={64} required value={name} aria-invalid={invalid("name")} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="hook-room">Room</label>
      <select id="hook-room" name="hook-room" required value={roomId} aria-invalid={invalid("room")} onChange={(e) => setRoomId(e.currentTarget.value)}>
        <option value="">Choose a room…</option>
        {props.rooms.map((r) => (
          <option key={r.id} value={r.id}>
            {r.name ?? `room ${r.id}`}
          </option>
        ))}
      </select>
      <label for="hook-avatar">Avatar URL (optional, https)</label>
      <input
        id="hook-avatar"
        name="hook-avatar"
        type="url"
        inputMode="url"
        maxLength={512}
        placeholder="https://"
        value={avatarUrl}
        aria-invalid={invalid("avatar")}
        onInput={(e) => setAvatarUrl(e.currentTarget.value)}
      />
      <label class="checkbox">
        <input
          type="checkbox"
          name="hook-legacy"
          checked={legacy}
          aria-describedby={legacy ? "hook-legacy-warning" : undefined}
          onChange={(e) => setLegacy(e.currentTarget.checked)}
        />{" "}
        Legacy URL token (for senders that can&rsquo;t sign requests)
      </label>
      {legacy && (
        <p id="hook-legacy-warning" class="error warning-box" role="alert" data-testid="hook-legacy-warning">
          <strong>Warning:</strong> {LEGACY_WARNING}
        </p>
      )}
      <ErrorAlert text={error} testId="hook-form-error" />
      <button type="submit" class="primary" data-testid="hook-create" disabled={busy}>
        {busy ? "Creating…" : "Create webhook"}
      </button>
    </form>
  );
}

// ---- outgoing -------------------------------------------------------------------------------

function OutgoingHooks(props: { rooms: RoomView[] | null }) {
  const { items: hooks, put, error, notice, setNotice, act } = useManagedList(hooksApi.outgoing);
  // null: closed; "new": creating; a hook: editing it.
  const [editing, setEditing] = useState<OutgoingHookView | "new" | null>(null);
  const [deliveriesOf, setDeliveriesOf] = useState<OutgoingHookView | null>(null);
  const [secret, showSecret, closeSecret] = useSecretOnce();
  const [confirmDialog, ask] = useConfirm();

  const roomNames = useMemo(() => new Map((props.rooms ?? []).map((r) => [r.id, r.name ?? `room ${r.id}`])), [props.rooms]);

  const toggle = (h: OutgoingHookView) =>
    act(async () => {
      await hooksApi.updateOutgoing(h.id, { enabled: !h.enabled });
      return h.enabled ? `"${h.name}" is disabled.` : `"${h.name}" is enabled.`;
    });

  const rotate = (h: OutgoingHookView) =>
    act(async () => {
      const fresh = await hooksApi.rotateOutgoing(h.id);
      showSecret({ title: `New secret for "${h.name}"`, items: [{ label: "Signing secret", value: fresh.secret }] });
      return `"${h.name}" signs with a new secret from now on.`;
    });

  const remove = (h: OutgoingHookView) =>
    act(async () => {
      await hooksApi.deleteOutgoing(h.id);
      return `"${h.name}" was deleted.`;
    });

  return (
    <section class="settings-section" aria-labelledby="outgoing-title" data-testid="outgoing-hooks">
      {confirmDialog}
      <h2 id="outgoing-title">Outgoing webhooks</h2>
      <p class="muted">
        Redoubt sends a signed request to the address when something happens in the chosen rooms, and retries until it
        is delivered. A hook that keeps failing is disabled and its owner told. Addresses inside the network are
        refused unless the deployment allows them.
      </p>
      <div class="settings-actions">
        <button type="button" class="primary" data-testid="outgoing-new" onClick={() => setEditing("new")}>
          New outgoing webhook
        </button>
      </div>
      <ErrorAlert text={error} testId="outgoing-error" />
      <SuccessNote text={notice} testId="outgoing-notice" />
      <Listing items={hooks} error={error} empty="No outgoing webhooks.">
        {(list) => (
          <DataTable caption="Outgoing webhooks" columns={["Name", "Address", "Rooms", "Events", "Trigger words", "Status", "Actions"]}>
            {list.map((h) => (
              <tr key={h.id} data-testid="outgoing-hook" data-hook-id={h.id} data-enabled={h.enabled ? "true" : "false"}>
                <td>{h.name}</td>
                <td>
                  <code class="hook-url">{h.url}</code>
                </td>
                <td>{h.room_ids.map((id) => roomNames.get(id) ?? `room ${id}`).join(", ")}</td>
                <td>{h.events.join(", ")}</td>
                <td>{h.trigger_words.length > 0 ? h.trigger_words.join(", ") : "—"}</td>
                <td data-testid="outgoing-status">
                  {h.enabled ? "Enabled" : h.disabled_reason ? `Disabled: ${h.disabled_reason}` : "Disabled"}
                </td>
                <td class="row-actions">
                  <button type="button" data-testid="outgoing-edit" aria-label={`Edit ${h.name}`} onClick={() => setEditing(h)}>
                    Edit
                  </button>
                  <button type="button" data-testid="outgoing-toggle" aria-label={`${h.enabled ? "Disable" : "Enable"} ${h.name}`} onClick={() => void toggle(h)}>
                    {h.enabled ? "Disable" : "Enable"}
                  </button>
                  <button type="button" data-testid="outgoing-deliveries" aria-label={`Deliveries of ${h.name}`} onClick={() => setDeliveriesOf(h)}>
                    Deliveries
                  </button>
                  <button
                    type="button"
                    data-testid="outgoing-rotate"
                    aria-label={`New secret for ${h.name}`}
                    onClick={() =>
                      ask({
                        title: "New secret",
                        text: `Give "${h.name}" a new signing secret? The receiver must verify with the new one from now on.`,
                        confirmLabel: "New secret",
                        onConfirm: () => void rotate(h),
                      })
                    }
                  >
                    New secret
                  </button>
                  <button
                    type="button"
                    class="danger"
                    data-testid="outgoing-delete"
                    aria-label={`Delete ${h.name}`}
                    onClick={() =>
                      ask({
                        title: "Delete webhook",
                        text: `Delete "${h.name}"? Nothing more is sent to it, pending deliveries included.`,
                        confirmLabel: "Delete",
                        onConfirm: () => void remove(h),
                      })
                    }
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
      {editing && (
        <OutgoingDialog
          hook={editing === "new" ? null : editing}
          rooms={usable(props.rooms)}
          onClose={() => setEditing(null)}
          onSaved={(hook, value) => {
            setEditing(null);
            setNotice(null);
            put(hook);
            if (value) {
              showSecret({ title: `Webhook "${hook.name}" created`, items: [{ label: "Signing secret", value }] });
            } else {
              setNotice(`"${hook.name}" was saved.`);
            }
          }}
        />
      )}
      {deliveriesOf && <DeliveriesDialog hook={deliveriesOf} onClose={() => setDeliveriesOf(null)} />}
      {secret && <SecretDialog secret={secret} onClose={closeSecret} />}
    </section>
  );
}

function OutgoingDialog(props: {
  hook: OutgoingHookView | null;
  rooms: RoomView[];
  onClose: () => void;
  /** `secret` only for a new hook: shown once. */
  onSaved: (hook: OutgoingHookView, secret: string | null) => void;
}) {
  const { hook } = props;
  const [name, setName] = useState(hook?.name ?? "");
  const [url, setUrl] = useState(hook?.url ?? "");
  const [roomIds, setRoomIds] = useState<Set<string>>(new Set(hook?.room_ids ?? []));
  const [events, setEvents] = useState<Set<string>>(new Set(hook?.events ?? ["message.posted"]));
  const [words, setWords] = useState((hook?.trigger_words ?? []).join("\n"));
  const [field, setField] = useState<OutgoingField | null>(null);
  const { busy, error, setError, run } = useAction();

  // A hook may name a room that is archived now: keep it choosable while editing.
  const rooms = useMemo(() => {
    const known = new Set(props.rooms.map((r) => r.id));
    const extra = [...roomIds].filter((id) => !known.has(id));
    return [...props.rooms.map((r) => ({ id: r.id, name: r.name ?? `room ${r.id}` })), ...extra.map((id) => ({ id, name: `room ${id}` }))];
  }, [props.rooms]);

  async function submit(e: Event) {
    e.preventDefault();
    const checked = checkOutgoingForm({ name, url, roomIds, events, triggerWords: words });
    if (!checked.ok) {
      setField(checked.field);
      setError(checked.error);
      return;
    }
    setField(null);
    await run(async () => {
      if (hook) {
        props.onSaved(await hooksApi.updateOutgoing(hook.id, checked.body), null);
      } else {
        const created = await hooksApi.createOutgoing(checked.body);
        props.onSaved(created.hook, created.secret);
      }
    });
  }

  const invalid = (f: OutgoingField) => (field === f ? "true" : undefined);
  return (
    <Dialog title={hook ? `Edit "${hook.name}"` : "New outgoing webhook"} onClose={props.onClose} testId="outgoing-dialog">
      <form class="form" onSubmit={submit} noValidate>
        <label for="out-name">Name</label>
        <input id="out-name" name="out-name" maxLength={64} required value={name} aria-invalid={invalid("name")} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="out-url">Address (URL)</label>
        <input
          id="out-url"
          name="out-url"
          type="url"
          inputMode="url"
          maxLength={2048}
          required
          placeholder="https://"
          value={url}
          aria-invalid={invalid("url")}
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
        <fieldset class={field === "rooms" ? "invalid" : undefined}>
          <legend>Rooms</legend>
          <div class="room-picker">
            {rooms.length === 0 && <p class="muted small">No rooms.</p>}
            {rooms.map((r) => (
              <label key={r.id} class="checkbox">
                <input
                  type="checkbox"
                  name="out-room"
                  value={r.id}
                  checked={roomIds.has(r.id)}
                  onChange={(e) => setRoomIds((s) => toggled(s, r.id, e.currentTarget.checked))}
                />{" "}
                {r.name}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset class={field === "events" ? "invalid" : undefined}>
          <legend>Events</legend>
          {HOOK_EVENTS.map((ev) => (
            <label key={ev.event} class="checkbox">
              <input
                type="checkbox"
                name="out-event"
                value={ev.event}
                checked={events.has(ev.event)}
                onChange={(e) => setEvents((s) => toggled(s, ev.event, e.currentTarget.checked))}
              />{" "}
              {ev.label} <code class="muted small">{ev.event}</code>
            </label>
          ))}
        </fieldset>
        <label for="out-words">Trigger words (optional)</label>
        <textarea
          id="out-words"
          name="out-words"
          rows={3}
          aria-describedby="out-words-hint"
          aria-invalid={invalid("words")}
          value={words}
          onInput={(e) => setWords(e.currentTarget.value)}
        />
        <p id="out-words-hint" class="hint muted small">
          One word per line. With any, a posted message is sent only when its first word is one of them (case
          ignored).
        </p>
        <ErrorAlert text={error} testId="outgoing-form-error" />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="outgoing-save" label={hook ? "Save" : "Create webhook"} busyLabel="Saving…" />
      </form>
    </Dialog>
  );
}

function DeliveriesDialog(props: { hook: OutgoingHookView; onClose: () => void }) {
  const [deliveries, setDeliveries] = useState<DeliveryView[] | null>(null);
  const { busy, error, run } = useAction();

  const load = () => run(async () => setDeliveries(await hooksApi.deliveries(props.hook.id)));
  useEffect(() => void load(), [props.hook.id]);

  return (
    <Dialog title={`Deliveries of "${props.hook.name}"`} onClose={props.onClose} testId="deliveries-dialog">
      <ErrorAlert text={error} />
      <Listing items={deliveries} error={error} empty="Nothing sent yet.">
        {(list) => (
          <DataTable caption="Deliveries, newest first" columns={["Created", "Event", "Status", "Attempts", "Last answer", "Next attempt"]}>
            {list.map((d) => (
              <tr key={d.id} data-testid="delivery-row" data-delivery-id={d.id} data-status={d.status}>
                <td>{absoluteTime(d.created_at)}</td>
                <td>{d.event}</td>
                <td>{d.status === "delivered" ? `delivered ${absoluteTime(d.delivered_at, "")}` : d.status}</td>
                <td>{d.attempts}</td>
                <td>
                  {d.last_status_code !== null ? `HTTP ${d.last_status_code}` : ""}
                  {d.last_error ? `${d.last_status_code !== null ? " · " : ""}${d.last_error}` : ""}
                </td>
                <td>{d.status === "pending" ? absoluteTime(d.next_attempt_at) : "—"}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
      <div class="dialog-actions">
        <button type="button" disabled={busy} onClick={() => void load()}>
          Refresh
        </button>
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
