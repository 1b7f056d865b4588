import { useEffect, useState } from "preact/hooks";

import { api, fetchAll } from "../../lib/api";
import {
  botSettingsApi,
  botsApi,
  checkBotForm,
  checkBotLimit,
  checkGrace,
  checkOwnBotForm,
  EMPTY_BOT_FORM,
  ownBotsApi,
  type BotForm,
  type BotFormField,
  type BotsClient,
  type BotSettings,
  type BotView,
  type CreateBotBody,
  type CreateOwnBotBody,
} from "../../lib/bots";
import { secretItems } from "../../lib/secretOnce";
import { toggled } from "../../lib/sets";
import { absoluteTime } from "../../lib/time";
import type { RoomView, UserView } from "../../lib/types";
import { useConfirm } from "../Confirm";
import { Dialog, DialogFormActions } from "../Dialog";
import { ErrorAlert, SuccessNote } from "../Feedback";
import { errorText, useAction, useManagedList } from "../hooks";
import { SecretDialog, useSecretOnce } from "../SecretDialog";
import { DataTable, Listing } from "../Table";

/**
 * Admin → Bots: every bot account with its owner, the rooms it may be added to and its
 * token's hint. A token is shown once (created, rotated) in the secret dialog and
 * nowhere else; revoking stops every token of the bot; deleting deactivates the account.
 */
export function AdminBots() {
  const { items: bots, put, error, notice, act, reload } = useManagedList(botsApi.list);
  const [people, setPeople] = useState<UserView[] | null>(null);
  const [rooms, setRooms] = useState<RoomView[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    fetchAll(api.adminUsers).then(setPeople, (err) => setLoadError(errorText(err)));
    // The rooms a bot may be allowed into: channels and groups (not DMs, not archived)
    // the admin can see: every channel, and the private groups the admin is in.
    Promise.all([fetchAll(api.adminRooms), api.myRooms()]).then(
      ([all, mine]) => {
        const byId = new Map<string, RoomView>();
        for (const r of [...all, ...mine.map((m) => m.room)]) {
          if (r.kind !== "dm" && !r.archived) byId.set(r.id, r);
        }
        setRooms([...byId.values()].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? "")));
      },
      (err) => setLoadError(errorText(err)),
    );
  }, []);

  const owners = people?.filter((u) => u.is_active && (u.role === "user" || u.role === "admin")) ?? null;
  const roomName = (id: string) => rooms?.find((r) => r.id === id)?.name ?? `room ${id}`;

  const manager = useBotDialogs({ client: botsApi, owners, rooms, put, act, reload, testIdPrefix: "bot" });
  const ask = manager.ask;
  const release = (bot: BotView) =>
    act(
      async () => {
        put(await botsApi.release(bot.id));
        return `${bot.username} was released from quarantine.`;
      },
      { reload: false },
    );

  return (
    <section aria-labelledby="admin-bots-title" data-testid="admin-bots">
      {manager.dialogs}
      <h2 id="admin-bots-title">Bots</h2>
      <p class="muted">
        Bot accounts use the Telegram-compatible Bot API with their token. A bot can only be added to the rooms listed
        here, and can&rsquo;t create rooms or hold admin rights.
      </p>
      <UserBotsSetting />
      <button
        type="button"
        class="primary"
        data-testid="bot-new"
        disabled={!owners || !rooms}
        onClick={manager.startCreate}
      >
        New bot
      </button>
      <ErrorAlert text={error ?? loadError} testId="bots-error" />
      <SuccessNote text={notice} testId="bots-notice" />
      <Listing items={bots} error={error} empty="No bots yet." emptyTestId="bots-empty">
        {(list) => (
          <DataTable caption="Bots" columns={["Bot", "Owner", "Allowed rooms", "Token", "Actions"]}>
            {list.map((b) => (
              <tr key={b.id} data-testid="bot-row" data-bot-id={b.id} data-username={b.username}>
                <td>
                  <strong data-testid="bot-username">{b.username}</strong>
                  {b.display_name !== b.username && <span class="muted"> {b.display_name}</span>}
                  {b.quarantined_at && (
                    <span class="tag" data-testid="bot-quarantined" title={absoluteTime(b.quarantined_at)}>
                      quarantined
                    </span>
                  )}
                  {b.quarantined_at && b.quarantine_reason && (
                    <p class="error small" data-testid="bot-quarantine-reason">
                      {b.quarantine_reason}
                    </p>
                  )}
                  {b.description && <p class="muted small">{b.description}</p>}
                </td>
                <td data-testid="bot-owner">{b.owner.username}</td>
                <td data-testid="bot-room-list">
                  {b.room_ids.length === 0 ? "None" : b.room_ids.map(roomName).join(", ")}
                </td>
                <td>
                  <code data-testid="bot-token-hint">{b.token_hint ?? "none"}</code>
                </td>
                <td>
                  {b.quarantined_at && (
                    <button
                      type="button"
                      data-testid="bot-release"
                      aria-label={`Release ${b.username} from quarantine`}
                      onClick={() =>
                        ask({
                          title: "Release bot",
                          text: `Release ${b.username} from quarantine? Its token can post again at once.`,
                          confirmLabel: "Release",
                          onConfirm: () => void release(b),
                        })
                      }
                    >
                      Release
                    </button>
                  )}
                  {manager.actions(b)}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Listing>
    </section>
  );
}

/**
 * The admin's switch for users' own bots (Settings → My bots): on, a user may create
 * bots they own, up to the limit; off, no new ones (existing ones keep working).
 */
function UserBotsSetting() {
  const [saved, setSaved] = useState<BotSettings | null>(null);
  const [allowed, setAllowed] = useState(false);
  const [limit, setLimit] = useState("5");
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    botSettingsApi.get().then(
      (s) => {
        setSaved(s);
        setAllowed(s.users_may_create_bots);
        setLimit(String(s.max_bots_per_user));
      },
      (err) => setError(errorText(err)),
    );
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    setNotice(null);
    const checked = checkBotLimit(limit);
    if (!checked.ok) return setError(checked.error);
    await run(async () => {
      const s = await botSettingsApi.save({ users_may_create_bots: allowed, max_bots_per_user: checked.limit });
      setSaved(s);
      setNotice(s.users_may_create_bots ? `Users may create up to ${s.max_bots_per_user} bots each.` : "Users can't create bots; existing ones keep working.");
    });
  }

  return (
    <form class="form inline-form" onSubmit={submit} aria-label="Users' own bots" data-testid="user-bots-setting">
      <label class="checkbox">
        <input
          type="checkbox"
          name="users-may-create-bots"
          data-testid="users-may-create-bots"
          checked={allowed}
          disabled={!saved}
          onChange={(e) => setAllowed(e.currentTarget.checked)}
        />{" "}
        Users may create their own bots (in rooms they own or moderate)
      </label>
      <label for="max-bots-per-user">Bots per user</label>
      <input
        id="max-bots-per-user"
        name="max-bots-per-user"
        inputMode="numeric"
        size={5}
        value={limit}
        disabled={!saved}
        onInput={(e) => setLimit(e.currentTarget.value)}
      />
      <button type="submit" data-testid="user-bots-save" disabled={!saved || busy}>
        {busy ? "Saving…" : "Save"}
      </button>
      <ErrorAlert text={error} testId="user-bots-error" />
      <SuccessNote text={notice} testId="user-bots-notice" />
    </form>
  );
}

/** Checkboxes for the rooms a bot may be added to. */
export function RoomPicker(props: { rooms: RoomView[]; selected: ReadonlySet<string>; onChange: (selected: Set<string>) => void; legend: string }) {
  return (
    <fieldset class="room-picker">
      <legend>{props.legend}</legend>
      {props.rooms.length === 0 ? (
        <p class="muted small">There are no channels or groups yet.</p>
      ) : (
        props.rooms.map((r) => (
          <label key={r.id} class="checkbox">
            <input
              type="checkbox"
              name="bot-room"
              value={r.id}
              checked={props.selected.has(r.id)}
              onChange={(e) => props.onChange(toggled(props.selected, r.id, e.currentTarget.checked))}
            />{" "}
            {r.kind === "channel" ? "#" : ""}
            {r.name ?? "(unnamed)"}
          </label>
        ))
      )}
    </fieldset>
  );
}

function isAdminBody(body: CreateBotBody | CreateOwnBotBody): body is CreateBotBody {
  return "owner_id" in body;
}

/** The create dialog; without `owners`, a user's own bot (the caller owns it). */
export function CreateBotDialog(props: {
  owners: UserView[] | null;
  rooms: RoomView[];
  onClose: () => void;
  onCreated: (bot: BotView, token: string) => void;
}) {
  const [form, setForm] = useState<BotForm>(EMPTY_BOT_FORM);
  const [field, setField] = useState<BotFormField | null>(null);
  const { busy, error, setError, run } = useAction();

  const set = (key: "username" | "displayName" | "description" | "ownerId" | "networks") =>
    (e: { currentTarget: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement }) =>
      setForm({ ...form, [key]: e.currentTarget.value });

  async function submit(e: Event) {
    e.preventDefault();
    const checked = props.owners ? checkBotForm(form) : checkOwnBotForm(form);
    if (!checked.ok) {
      setField(checked.field);
      setError(checked.error);
      return;
    }
    setField(null);
    const body = checked.body;
    // The token leaves this function only for the secret dialog.
    await run(async () => {
      const { bot, token } = isAdminBody(body) ? await botsApi.create(body) : await ownBotsApi.create(body);
      props.onCreated(bot, token);
    });
  }

  const invalid = (f: BotFormField) => (field === f ? true : undefined);
  return (
    <Dialog title="New bot" onClose={props.onClose} testId="bot-create-dialog">
      <form class="form" onSubmit={submit} aria-label="New bot">
        <label for="bot-username">Username</label>
        <input
          id="bot-username"
          name="bot-username"
          required
          maxLength={32}
          autoComplete="off"
          aria-invalid={invalid("username")}
          value={form.username}
          onInput={set("username")}
        />
        <label for="bot-display-name">Display name</label>
        <input id="bot-display-name" name="bot-display-name" maxLength={128} value={form.displayName} onInput={set("displayName")} />
        <label for="bot-description">Description</label>
        <textarea
          id="bot-description"
          name="bot-description"
          rows={2}
          maxLength={512}
          aria-invalid={invalid("description")}
          value={form.description}
          onInput={set("description")}
        />
        {props.owners && (
          <>
            <label for="bot-owner">Owner (responsible for the bot)</label>
            <select id="bot-owner" name="bot-owner" aria-invalid={invalid("owner")} value={form.ownerId} onChange={set("ownerId")}>
              <option value="">Choose…</option>
              {props.owners.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.username} ({u.display_name})
                </option>
              ))}
            </select>
          </>
        )}
        <RoomPicker
          legend="Rooms it may be added to"
          rooms={props.rooms}
          selected={form.roomIds}
          onChange={(roomIds) => setForm({ ...form, roomIds })}
        />
        <label for="bot-networks">Allowed addresses for its token (optional, one range per line)</label>
        <textarea
          id="bot-networks"
          name="bot-networks"
          rows={2}
          spellcheck={false}
          aria-invalid={invalid("networks")}
          value={form.networks}
          onInput={set("networks")}
        />
        <ErrorAlert text={error} testId="bot-form-error" />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="bot-create-submit" label="Create bot" busyLabel="Creating…" />
      </form>
    </Dialog>
  );
}

export function RotateBotDialog(props: { bot: BotView; client?: BotsClient; onClose: () => void; onRotated: (token: string) => void }) {
  const [grace, setGrace] = useState("0");
  const { busy, error, setError, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    const checked = checkGrace(grace);
    if (!checked.ok) return setError(checked.error);
    await run(async () => {
      const { token } = await (props.client ?? botsApi).rotate(props.bot.id, checked.hours);
      props.onRotated(token);
    });
  }

  return (
    <Dialog title={`New token for ${props.bot.username}`} onClose={props.onClose} testId="bot-rotate-dialog">
      <form class="form" onSubmit={submit} aria-label={`New token for ${props.bot.username}`}>
        <label for="bot-grace">Hours the current token keeps working (0: it stops now)</label>
        <input id="bot-grace" name="bot-grace" inputMode="numeric" required value={grace} onInput={(e) => setGrace(e.currentTarget.value)} />
        <ErrorAlert text={error} testId="bot-rotate-error" />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="bot-rotate-submit" label="Issue new token" busyLabel="Issuing…" />
      </form>
    </Dialog>
  );
}

export function BotRoomsDialog(props: {
  bot: BotView;
  rooms: RoomView[];
  client?: BotsClient;
  onClose: () => void;
  onSaved: (bot: BotView) => void;
}) {
  const [selected, setSelected] = useState<Set<string>>(new Set(props.bot.room_ids));
  const { busy, error, run } = useAction();

  async function submit(e: Event) {
    e.preventDefault();
    await run(async () => props.onSaved(await (props.client ?? botsApi).setRooms(props.bot.id, [...selected].sort())));
  }

  return (
    <Dialog title={`Rooms of ${props.bot.username}`} onClose={props.onClose} testId="bot-rooms-dialog">
      <form class="form" onSubmit={submit} aria-label={`Rooms of ${props.bot.username}`}>
        <RoomPicker legend="Rooms it may be added to (it leaves the others)" rooms={props.rooms} selected={selected} onChange={setSelected} />
        <ErrorAlert text={error} testId="bot-rooms-error" />
        <DialogFormActions onCancel={props.onClose} busy={busy} testId="bot-rooms-save" label="Save" busyLabel="Saving…" />
      </form>
    </Dialog>
  );
}

/**
 * What Admin → Bots and Settings → My bots share: the create, rotate and rooms dialogs,
 * the token shown once, and each bot's buttons (rooms, token, delete; the destructive
 * ones ask first), all against `client` (the admin routes or a user's own).
 */
export function useBotDialogs(opts: {
  client: BotsClient;
  /** For an admin's new bot: who may own it (null: the caller owns it). */
  owners: UserView[] | null;
  rooms: RoomView[] | null;
  put: (bot: BotView, where?: "first" | "last") => void;
  act: (call: () => Promise<string | null | void>) => Promise<void>;
  reload: () => Promise<void>;
  testIdPrefix: string;
}) {
  const { client, rooms, put, act, reload, testIdPrefix: id } = opts;
  const [shown, showSecret, closeSecret] = useSecretOnce();
  const [creating, setCreating] = useState(false);
  const [rotating, setRotating] = useState<BotView | null>(null);
  const [editingRooms, setEditingRooms] = useState<BotView | null>(null);
  const [confirmDialog, ask] = useConfirm();

  const revoke = (bot: BotView) =>
    act(async () => {
      await client.revoke(bot.id);
      return `Every token of ${bot.username} was revoked. Rotate to give it a new one.`;
    });
  const remove = (bot: BotView) =>
    act(async () => {
      await client.remove(bot.id);
      return `${bot.username} was deleted.`;
    });

  const dialogs = (
    <>
      {confirmDialog}
      {shown && <SecretDialog secret={shown} onClose={closeSecret} />}
      {creating && rooms && (
        <CreateBotDialog
          owners={opts.owners}
          rooms={rooms}
          onClose={() => setCreating(false)}
          onCreated={(bot, token) => {
            setCreating(false);
            put(bot, "first");
            showSecret({ title: `Token of ${bot.username}`, items: secretItems([["Bot token", token]]) });
          }}
        />
      )}
      {rotating && (
        <RotateBotDialog
          bot={rotating}
          client={client}
          onClose={() => setRotating(null)}
          onRotated={(token) => {
            const bot = rotating;
            setRotating(null);
            showSecret({ title: `New token of ${bot.username}`, items: secretItems([["Bot token", token]]) });
            void reload();
          }}
        />
      )}
      {editingRooms && rooms && (
        <BotRoomsDialog
          bot={editingRooms}
          rooms={rooms}
          client={client}
          onClose={() => setEditingRooms(null)}
          onSaved={(bot) => {
            setEditingRooms(null);
            put(bot);
          }}
        />
      )}
    </>
  );

  const actions = (b: BotView) => (
    <>
      <button type="button" data-testid={`${id}-rooms`} aria-label={`Rooms of ${b.username}`} disabled={!rooms} onClick={() => setEditingRooms(b)}>
        Rooms
      </button>
      <button type="button" data-testid={`${id}-rotate`} aria-label={`New token for ${b.username}`} onClick={() => setRotating(b)}>
        {b.token_hint ? "Rotate token" : "New token"}
      </button>
      {b.token_hint && (
        <button
          type="button"
          class="danger"
          data-testid={`${id}-revoke`}
          aria-label={`Revoke the tokens of ${b.username}`}
          onClick={() =>
            ask({
              title: "Revoke bot token",
              text: `Revoke every token of ${b.username} (${b.token_hint})? The bot stops working at once, until it gets a new token.`,
              confirmLabel: "Revoke",
              onConfirm: () => void revoke(b),
            })
          }
        >
          Revoke
        </button>
      )}
      <button
        type="button"
        class="danger"
        data-testid={`${id}-delete`}
        aria-label={`Delete ${b.username}`}
        onClick={() =>
          ask({
            title: "Delete bot",
            text: `Delete ${b.username}? Its account is deactivated and its tokens stop working.`,
            confirmLabel: "Delete",
            onConfirm: () => void remove(b),
          })
        }
      >
        Delete
      </button>
    </>
  );

  return { dialogs, actions, ask, startCreate: () => setCreating(true) };
}
