/**
 * API tokens (personal access tokens): the wire types, the calls, and the checks the
 * create form makes before sending. The server is the authority on every rule (scopes
 * the owner may grant, rooms, address ranges, expiry); these checks only catch the
 * obvious mistakes without a round trip, and the server's refusal is shown as it came.
 *
 * A secret (`rdt_pat_...`) comes back once, in the create or rotate answer. Nothing here
 * stores, logs or caches it: the page holds it in component state until the dialog
 * showing it closes (see lib/secretOnce.ts).
 */
import { request } from "./api";

export type TokenStatus = "active" | "grace" | "expired" | "revoked";

export interface TokenView {
  id: string;
  name: string;
  kind: string;
  /** The token's first characters, to tell tokens apart; never enough to use one. */
  hint: string;
  scopes: string[];
  /** null: every room the owner may use. */
  room_ids: string[] | null;
  /** null: from anywhere. CIDR ranges otherwise. */
  networks: string[] | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  replaced_by: string | null;
  last_used_at: string | null;
  /** "" when never used. */
  last_used_ip: string | null;
  status: TokenStatus;
}

export interface AdminTokenView extends TokenView {
  /** Set in the admin list. */
  owner: { id: string; username: string; display_name?: string } | null;
}

export interface TokenPolicy {
  scopes: { scope: string; description: string }[];
  default_days: number;
  /** null: the admin allows tokens that never expire. */
  max_days: number | null;
  max_grace_hours: number;
}

/** The create/rotate answer: the one time the secret is shown. */
export interface IssuedToken {
  token: TokenView;
  secret: string;
}

export interface TokenUsage {
  hour: string;
  network: string;
  operation: string;
  requests: number;
}

export interface TokenActivity {
  token: TokenView;
  usage: TokenUsage[];
}

export interface CreateTokenBody {
  name: string;
  scopes: string[];
  room_ids: string[] | null;
  networks: string[] | null;
  /** Days; 0 is "never" (only where the policy has no maximum); null is the server's default. */
  expires_in_days: number | null;
}

/** `expires_in_days` for a token that never expires. */
export const NEVER_EXPIRES = 0;

const enc = encodeURIComponent;

export const tokensApi = {
  policy: () => request<TokenPolicy>("GET", "/token-policy"),
  list: () => request<TokenView[]>("GET", "/tokens"),
  create: (body: CreateTokenBody) => request<IssuedToken>("POST", "/tokens", { body }),
  rotate: (id: string, graceHours: number) =>
    request<IssuedToken>("POST", `/tokens/${enc(id)}/rotate`, { body: { grace_hours: graceHours } }),
  revoke: (id: string) => request<void>("DELETE", `/tokens/${enc(id)}`),
  activity: (id: string) => request<TokenActivity>("GET", `/tokens/${enc(id)}/activity`),
  adminList: () => request<AdminTokenView[]>("GET", "/admin/tokens"),
  adminRevoke: (id: string) => request<void>("DELETE", `/admin/tokens/${enc(id)}`),
};

// ---- address ranges ---------------------------------------------------------------------

const IPV4_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);

function isIpv6(text: string): boolean {
  // At most one "::"; groups of 1-4 hex digits; an IPv4 tail allowed in the last 32 bits.
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  let groups = 0;
  for (const [h, half] of halves.entries()) {
    if (half === "") continue;
    const parts = half.split(":");
    for (const [i, part] of parts.entries()) {
      const last = h === halves.length - 1 && i === parts.length - 1;
      if (last && part.includes(".")) {
        if (!IPV4.test(part)) return false;
        groups += 2;
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        groups += 1;
      } else {
        return false;
      }
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/**
 * One address range: "a.b.c.d/n", "a.b.c.d" (one address), IPv6 likewise. Returns the
 * range as typed (trimmed) or null when it isn't one. Host bits set below the prefix
 * are the server's to judge; the shape is the client's.
 */
export function parseNetwork(raw: string): string | null {
  const text = raw.trim();
  if (!text || text.length > 64) return null;
  const [address, prefix, ...rest] = text.split("/");
  if (rest.length > 0 || address === undefined) return null;
  const v4 = IPV4.test(address);
  const v6 = !v4 && isIpv6(address);
  if (!v4 && !v6) return null;
  if (prefix !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefix)) return null;
    const bits = Number(prefix);
    if (bits > (v4 ? 32 : 128)) return null;
  }
  return text;
}

/** One range per line (blank lines and surrounding spaces ignored; commas split too). */
export function parseNetworks(text: string): { networks: string[]; invalid: string[] } {
  const networks: string[] = [];
  const invalid: string[] = [];
  for (const line of text.split(/[\n,]/)) {
    const item = line.trim();
    if (!item) continue;
    const parsed = parseNetwork(item);
    if (parsed === null) invalid.push(item);
    else if (!networks.includes(parsed)) networks.push(parsed);
  }
  return { networks, invalid };
}

// ---- the create form --------------------------------------------------------------------

export const MAX_TOKEN_NAME = 64;
export const MAX_NETWORKS = 20;

export interface TokenForm {
  name: string;
  scopes: ReadonlySet<string>;
  /** Restrict to rooms? With it, `roomIds` must name at least one. */
  restrictRooms: boolean;
  roomIds: ReadonlySet<string>;
  /** The address ranges field as typed: one per line. */
  networks: string;
  /** The expiry field as typed: days; empty means "never" (only when the policy allows it). */
  days: string;
}

export type TokenFormField = "name" | "scopes" | "rooms" | "networks" | "days";

export type Checked<T, F> = { ok: true; body: T } | { ok: false; field: F; error: string };

/** The form's problems, or the request body to send. */
export function checkTokenForm(form: TokenForm, policy: TokenPolicy): Checked<CreateTokenBody, TokenFormField> {
  const name = form.name.trim();
  if (!name) return { ok: false, field: "name", error: "Give the token a name, so you know what uses it." };
  if (name.length > MAX_TOKEN_NAME) {
    return { ok: false, field: "name", error: `The name can be at most ${MAX_TOKEN_NAME} characters.` };
  }
  const known = new Set(policy.scopes.map((s) => s.scope));
  const scopes = [...form.scopes].filter((s) => known.has(s));
  if (scopes.length === 0) return { ok: false, field: "scopes", error: "Choose at least one scope." };
  // In the policy's order, so the request doesn't depend on the order of the clicks.
  scopes.sort((a, b) => policy.scopes.findIndex((s) => s.scope === a) - policy.scopes.findIndex((s) => s.scope === b));

  let roomIds: string[] | null = null;
  if (form.restrictRooms) {
    roomIds = [...form.roomIds];
    if (roomIds.length === 0) {
      return { ok: false, field: "rooms", error: "Choose at least one room, or allow every room." };
    }
  }

  const { networks, invalid } = parseNetworks(form.networks);
  if (invalid.length > 0) {
    return {
      ok: false,
      field: "networks",
      error: `Not an address range: ${invalid.slice(0, 3).join(", ")}. Use one per line, like 203.0.113.0/24 or 2001:db8::/32.`,
    };
  }
  if (networks.length > MAX_NETWORKS) {
    return { ok: false, field: "networks", error: `At most ${MAX_NETWORKS} address ranges.` };
  }

  const daysText = form.days.trim();
  let days: number;
  if (daysText === "") {
    if (policy.max_days !== null) {
      return { ok: false, field: "days", error: `Tokens must expire: choose 1 to ${policy.max_days} days.` };
    }
    days = NEVER_EXPIRES;
  } else {
    if (!/^[0-9]{1,6}$/.test(daysText) || Number(daysText) < 1) {
      return { ok: false, field: "days", error: "The expiry is a whole number of days, at least 1." };
    }
    days = Number(daysText);
    if (policy.max_days !== null && days > policy.max_days) {
      return { ok: false, field: "days", error: `At most ${policy.max_days} days.` };
    }
  }

  return {
    ok: true,
    body: {
      name,
      scopes,
      room_ids: roomIds,
      networks: networks.length > 0 ? networks : null,
      expires_in_days: days,
    },
  };
}

/** The rotate dialog's grace period: 0 (the old token stops now) up to the policy's maximum. */
export function checkGraceHours(text: string, policy: TokenPolicy): Checked<number, "grace"> {
  const t = text.trim();
  if (!/^[0-9]{1,6}$/.test(t)) {
    return { ok: false, field: "grace", error: "The grace period is a whole number of hours (0 ends the old token now)." };
  }
  const hours = Number(t);
  if (hours > policy.max_grace_hours) {
    return { ok: false, field: "grace", error: `At most ${policy.max_grace_hours} hours.` };
  }
  return { ok: true, body: hours };
}

const STATUS_TEXT: Record<TokenStatus, string> = {
  active: "Active",
  grace: "Replaced (still valid during the grace period)",
  expired: "Expired",
  revoked: "Revoked",
};

export function statusText(status: string): string {
  return (STATUS_TEXT as Record<string, string>)[status] ?? status;
}

/** A token that can still be used (and so rotated or revoked). */
export function isLive(token: Pick<TokenView, "status">): boolean {
  return token.status === "active" || token.status === "grace";
}
