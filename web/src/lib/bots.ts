/**
 * Admin → Bots (issue 6): the bot accounts, their tokens (shown once, on create and
 * rotate), the rooms they may be added to. Routes in src/redoubt/api/endpoints/bots.py.
 */
import { request } from "./api";
import { parseNetworks } from "./tokens";
import type { MembershipView, RoomView, UserPublicView } from "./types";

export interface BotView {
  id: string;
  username: string;
  display_name: string;
  description: string;
  owner: UserPublicView;
  /** The rooms it may be added to (DMs opened with it aside). */
  room_ids: string[];
  created_at: string;
  /** "<id>:<first four>…" of its working token; null when it has none. */
  token_hint: string | null;
  /** Set when its activity put it in quarantine: its token can't write until released. */
  quarantined_at: string | null;
  /** Which activity rule, with the figures ("" when not quarantined; absent from older servers). */
  quarantine_reason?: string;
  /** What its token may do on the native REST API (absent from older servers). */
  scopes?: string[];
}

export interface CreateBotBody {
  username: string;
  display_name?: string;
  description: string;
  owner_id: string;
  room_ids: string[];
  networks?: string[];
}

const enc = encodeURIComponent;

export const botsApi = {
  list: () => request<BotView[]>("GET", "/admin/bots"),
  /** The token is in this answer only. */
  create: (body: CreateBotBody) => request<{ bot: BotView; token: string }>("POST", "/admin/bots", { body }),
  /** A new token (in this answer only); the current one works `graceHours` more. */
  rotate: (botId: string, graceHours: number) =>
    request<{ token: string }>("POST", `/admin/bots/${enc(botId)}/token`, { body: { grace_hours: graceHours } }),
  /** Every token of the bot stops working now. */
  revoke: (botId: string) => request<void>("DELETE", `/admin/bots/${enc(botId)}/token`),
  setRooms: (botId: string, roomIds: string[]) =>
    request<BotView>("PUT", `/admin/bots/${enc(botId)}/rooms`, { body: { room_ids: roomIds } }),
  remove: (botId: string) => request<void>("DELETE", `/admin/bots/${enc(botId)}`),
  /** Out of quarantine: its token works for writes again. */
  release: (botId: string) => request<BotView>("POST", `/admin/bots/${enc(botId)}/release`),
};

/** What the bot pages call: the admin routes (every bot) or a user's own (`/bots`). */
export interface BotsClient {
  list: () => Promise<BotView[]>;
  rotate: (botId: string, graceHours: number) => Promise<{ token: string }>;
  revoke: (botId: string) => Promise<void>;
  setRooms: (botId: string, roomIds: string[]) => Promise<BotView>;
  remove: (botId: string) => Promise<void>;
}

/** A user's own bot: the admin body minus the owner (the caller). */
export type CreateOwnBotBody = Omit<CreateBotBody, "owner_id">;

/** Whether users may create their own bots here (`GET /bot-policy`). */
export interface OwnBotPolicy {
  users_may_create_bots: boolean;
  max_bots_per_user: number;
  /** Whether the caller may create one now (a user while allowed, or an admin). */
  may_create: boolean;
}

/** The admin's switch for users' own bots (`/admin/bot-settings`). */
export interface BotSettings {
  users_may_create_bots: boolean;
  max_bots_per_user: number;
}

/** Settings → My bots: the caller's own bots (another user's answer 404). */
export const ownBotsApi: BotsClient & {
  policy: () => Promise<OwnBotPolicy>;
  create: (body: CreateOwnBotBody) => Promise<{ bot: BotView; token: string }>;
} = {
  policy: () => request<OwnBotPolicy>("GET", "/bot-policy"),
  list: () => request<BotView[]>("GET", "/bots"),
  /** The token is in this answer only. */
  create: (body: CreateOwnBotBody) => request<{ bot: BotView; token: string }>("POST", "/bots", { body }),
  rotate: (botId: string, graceHours: number) =>
    request<{ token: string }>("POST", `/bots/${enc(botId)}/token`, { body: { grace_hours: graceHours } }),
  revoke: (botId: string) => request<void>("DELETE", `/bots/${enc(botId)}/token`),
  setRooms: (botId: string, roomIds: string[]) =>
    request<BotView>("PUT", `/bots/${enc(botId)}/rooms`, { body: { room_ids: roomIds } }),
  remove: (botId: string) => request<void>("DELETE", `/bots/${enc(botId)}`),
};

export const botSettingsApi = {
  get: () => request<BotSettings>("GET", "/admin/bot-settings"),
  save: (body: BotSettings) => request<BotSettings>("PUT", "/admin/bot-settings", { body }),
};

/**
 * The rooms a user may give their own bot: channels and groups (not DMs, not archived)
 * they own or moderate, by name. The server checks the same.
 */
export function moderatedRooms(memberships: readonly MembershipView[]): RoomView[] {
  return memberships
    .filter((m) => (m.role === "owner" || m.role === "moderator") && m.room.kind !== "dm" && !m.room.archived)
    .map((m) => m.room)
    .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
}

/** The "max bots per user" field of the admin's switch: a whole number 0-1000. */
export function checkBotLimit(text: string): { ok: true; limit: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^[0-9]{1,4}$/.test(t) || Number(t) > 1000) return { ok: false, error: "The limit is a whole number from 0 to 1000." };
  return { ok: true, limit: Number(t) };
}

export const MAX_BOT_DESCRIPTION = 512;
export const MAX_BOT_ROOMS = 100;
/** The server's username rule (domain/text.py), checked before sending. */
const USERNAME = /^[a-z0-9][a-z0-9._-]{1,31}$/;

export interface BotForm {
  username: string;
  displayName: string;
  description: string;
  ownerId: string;
  roomIds: ReadonlySet<string>;
  networks: string;
}

export const EMPTY_BOT_FORM: BotForm = {
  username: "",
  displayName: "",
  description: "",
  ownerId: "",
  roomIds: new Set(),
  networks: "",
};

export type BotFormField = "username" | "description" | "owner" | "rooms" | "networks";

export type BotFormCheck = { ok: true; body: CreateBotBody } | { ok: false; field: BotFormField; error: string };

export type OwnBotFormCheck = { ok: true; body: CreateOwnBotBody } | { ok: false; field: BotFormField; error: string };

/** The create form of a user's own bot (no owner to choose: the caller owns it). */
export function checkOwnBotForm(form: Omit<BotForm, "ownerId">): OwnBotFormCheck {
  const checked = checkBotForm({ ...form, ownerId: "0" });
  if (!checked.ok) return checked;
  const { owner_id: _owner, ...body } = checked.body;
  return { ok: true, body };
}

/** The create form as the request body, or what is wrong with it (the server judges the rest). */
export function checkBotForm(form: BotForm): BotFormCheck {
  const username = form.username.trim().replace(/^@/, "").toLowerCase();
  if (!USERNAME.test(username)) {
    return {
      ok: false,
      field: "username",
      error: "Usernames are 2-32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
    };
  }
  const description = form.description.trim();
  if (Array.from(description).length > MAX_BOT_DESCRIPTION) {
    return { ok: false, field: "description", error: `Descriptions are at most ${MAX_BOT_DESCRIPTION} characters.` };
  }
  if (!/^[0-9]{1,20}$/.test(form.ownerId)) return { ok: false, field: "owner", error: "Choose the bot's owner." };
  if (form.roomIds.size > MAX_BOT_ROOMS) return { ok: false, field: "rooms", error: `At most ${MAX_BOT_ROOMS} rooms.` };
  const { networks, invalid } = parseNetworks(form.networks);
  if (invalid.length > 0) {
    return { ok: false, field: "networks", error: `Not an address range: ${invalid.join(", ")}` };
  }
  if (networks.length > 20) return { ok: false, field: "networks", error: "At most 20 address ranges." };
  const body: CreateBotBody = { username, description, owner_id: form.ownerId, room_ids: [...form.roomIds].sort() };
  if (form.displayName.trim()) body.display_name = form.displayName.trim();
  if (networks.length > 0) body.networks = networks;
  return { ok: true, body };
}

/** The grace period typed in the rotate dialog: whole hours, 0 or more. */
export function checkGrace(text: string): { ok: true; hours: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^[0-9]{1,6}$/.test(t)) return { ok: false, error: "The grace period is a whole number of hours (0 or more)." };
  return { ok: true, hours: Number(t) };
}
