/**
 * Incoming and outgoing webhooks (admin only): wire types, calls, and the form checks
 * made before sending. The server is the authority (it validates URLs again and its
 * egress guard refuses internal addresses); the client only spares a round trip.
 *
 * Signing secrets (`rdt_whs_...`) and legacy URLs come back once, in the create or
 * rotate answer, and are shown through lib/secretOnce.ts: never kept in the lists.
 */
import { request } from "./api";
import type { Checked } from "./tokens";

export interface IncomingHookView {
  id: string;
  name: string;
  room_id: string;
  room_name: string | null;
  user_id: string;
  avatar_url: string;
  enabled: boolean;
  legacy_url_token: boolean;
  /** "/api/v1/hooks/<id>": where signed requests go. */
  url: string;
  created_at: string;
  last_used_at: string | null;
}

export interface IncomingHookCreated {
  hook: IncomingHookView;
  secret: string;
  legacy_url: string | null;
}

export interface IncomingHookSecret {
  secret: string;
  legacy_url: string | null;
}

export interface CreateIncomingBody {
  name: string;
  room_id: string;
  avatar_url: string;
  legacy_url_token: boolean;
}

export const HOOK_EVENTS = [
  { event: "message.posted", label: "A message is posted" },
  { event: "member.joined", label: "Someone joins the room" },
  { event: "member.left", label: "Someone leaves the room" },
] as const;

export type HookEvent = (typeof HOOK_EVENTS)[number]["event"];

export interface OutgoingHookView {
  id: string;
  name: string;
  url: string;
  room_ids: string[];
  events: string[];
  trigger_words: string[];
  enabled: boolean;
  /** Why it is off (say, it kept failing); "" while enabled. */
  disabled_reason: string | null;
  owner_id: string;
  created_at: string;
}

export interface OutgoingHookCreated {
  hook: OutgoingHookView;
  secret: string;
}

export interface OutgoingHookBody {
  name: string;
  url: string;
  room_ids: string[];
  events: HookEvent[];
  trigger_words: string[];
}

export interface DeliveryView {
  id: string;
  event: string;
  status: "pending" | "delivered" | "failed" | string;
  attempts: number;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
}

export type Severity = "high" | "medium" | "low";

export interface DoctorFinding {
  id: string;
  severity: Severity | string;
  title: string;
  advice: string;
  subject: string | null;
}

export interface DoctorReport {
  findings: DoctorFinding[];
  checked_at: string;
}

const enc = encodeURIComponent;

export const hooksApi = {
  incoming: () => request<IncomingHookView[]>("GET", "/admin/hooks/incoming"),
  createIncoming: (body: CreateIncomingBody) =>
    request<IncomingHookCreated>("POST", "/admin/hooks/incoming", { body }),
  /** `legacy_url_token: false` ends legacy URL mode (its URL token stops working); it can't be turned back on. */
  updateIncoming: (id: string, change: { name?: string; avatar_url?: string; enabled?: boolean; legacy_url_token?: false }) =>
    request<IncomingHookView>("PATCH", `/admin/hooks/incoming/${enc(id)}`, { body: change }),
  rotateIncoming: (id: string) => request<IncomingHookSecret>("POST", `/admin/hooks/incoming/${enc(id)}/secret`),
  deleteIncoming: (id: string) => request<void>("DELETE", `/admin/hooks/incoming/${enc(id)}`),

  outgoing: () => request<OutgoingHookView[]>("GET", "/admin/hooks/outgoing"),
  createOutgoing: (body: OutgoingHookBody) =>
    request<OutgoingHookCreated>("POST", "/admin/hooks/outgoing", { body }),
  updateOutgoing: (id: string, change: Partial<OutgoingHookBody> & { enabled?: boolean }) =>
    request<OutgoingHookView>("PATCH", `/admin/hooks/outgoing/${enc(id)}`, { body: change }),
  rotateOutgoing: (id: string) => request<{ secret: string }>("POST", `/admin/hooks/outgoing/${enc(id)}/secret`),
  deleteOutgoing: (id: string) => request<void>("DELETE", `/admin/hooks/outgoing/${enc(id)}`),
  deliveries: (id: string) => request<DeliveryView[]>("GET", `/admin/hooks/outgoing/${enc(id)}/deliveries`),

  doctor: () => request<DoctorReport>("GET", "/admin/doctor"),
};

// ---- checks -----------------------------------------------------------------------------

export const MAX_HOOK_NAME = 64;
export const MAX_TRIGGER_WORDS = 20;
export const MAX_TRIGGER_WORD = 32;
export const MAX_HOOK_ROOMS = 50;
export const MAX_AVATAR_URL = 512;

function absoluteUrl(text: string, schemes: string[]): URL | null {
  if (/[\u0000-\u0020\u007f\\]/.test(text)) return null;
  try {
    const url = new URL(text);
    return schemes.includes(url.protocol) && url.hostname ? url : null;
  } catch {
    return null;
  }
}

function checkName<F extends string>(raw: string, field: F): Checked<string, F> {
  const name = raw.trim();
  if (!name) return { ok: false, field, error: "Give it a name." };
  if (name.length > MAX_HOOK_NAME) return { ok: false, field, error: `The name can be at most ${MAX_HOOK_NAME} characters.` };
  return { ok: true, body: name };
}

export type IncomingField = "name" | "room" | "avatar";

export function checkIncomingForm(form: {
  name: string;
  roomId: string;
  avatarUrl: string;
  legacy: boolean;
}): Checked<CreateIncomingBody, IncomingField> {
  const name = checkName(form.name, "name" as const);
  if (!name.ok) return name;
  if (!/^[0-9]{1,20}$/.test(form.roomId)) return { ok: false, field: "room", error: "Choose the room it posts to." };
  const avatar = form.avatarUrl.trim();
  if (avatar && (!absoluteUrl(avatar, ["https:"]) || avatar.length > MAX_AVATAR_URL)) {
    return { ok: false, field: "avatar", error: "The avatar must be an https:// address, or nothing." };
  }
  return {
    ok: true,
    body: { name: name.body, room_id: form.roomId, avatar_url: avatar, legacy_url_token: form.legacy },
  };
}

/** Trigger words as typed: one per line or comma separated; duplicates dropped. A
 * message fires the hook when its first word is one of them (case ignored). */
export function parseTriggerWords(text: string): string[] {
  const words: string[] = [];
  for (const w of text.split(/[\n,]/)) {
    const word = w.trim();
    if (word && !words.includes(word)) words.push(word);
  }
  return words;
}

export type OutgoingField = "name" | "url" | "rooms" | "events" | "words";

export function checkOutgoingForm(form: {
  name: string;
  url: string;
  roomIds: ReadonlySet<string>;
  events: ReadonlySet<string>;
  triggerWords: string;
}): Checked<OutgoingHookBody, OutgoingField> {
  const name = checkName(form.name, "name" as const);
  if (!name.ok) return name;
  const url = form.url.trim();
  if (!absoluteUrl(url, ["https:", "http:"]) || url.length > 2048) {
    return { ok: false, field: "url", error: "The address must be an http:// or https:// URL." };
  }
  if (form.roomIds.size === 0) return { ok: false, field: "rooms", error: "Choose at least one room." };
  if (form.roomIds.size > MAX_HOOK_ROOMS) return { ok: false, field: "rooms", error: `At most ${MAX_HOOK_ROOMS} rooms.` };
  const events = HOOK_EVENTS.map((e) => e.event).filter((e) => form.events.has(e));
  if (events.length === 0) return { ok: false, field: "events", error: "Choose at least one event." };
  const words = parseTriggerWords(form.triggerWords);
  if (words.length > MAX_TRIGGER_WORDS) {
    return { ok: false, field: "words", error: `At most ${MAX_TRIGGER_WORDS} trigger words.` };
  }
  if (words.some((w) => w.length > MAX_TRIGGER_WORD || /[\s\u0000-\u001f\u007f]/.test(w))) {
    return {
      ok: false,
      field: "words",
      error: `A trigger word is one word (no spaces) of at most ${MAX_TRIGGER_WORD} characters.`,
    };
  }
  return {
    ok: true,
    body: { name: name.body, url, room_ids: [...form.roomIds], events, trigger_words: words },
  };
}

const SEVERITY_ORDER = ["high", "medium", "low"];

/** Findings grouped by severity, most severe first; unknown severities last, as they came. */
export function groupFindings(findings: DoctorFinding[]): { severity: string; findings: DoctorFinding[] }[] {
  const groups = new Map<string, DoctorFinding[]>();
  for (const f of findings) {
    const list = groups.get(f.severity) ?? [];
    list.push(f);
    groups.set(f.severity, list);
  }
  const rank = (s: string) => {
    const i = SEVERITY_ORDER.indexOf(s);
    return i < 0 ? SEVERITY_ORDER.length : i;
  };
  return [...groups.entries()]
    .sort((a, b) => rank(a[0]) - rank(b[0]))
    .map(([severity, list]) => ({ severity, findings: list }));
}
