/**
 * The one way the client talks HTTP to the server: same-origin fetch with the session
 * cookie, the CSRF token on every state-changing request, and the server's error shape
 * (`{"error": {"code", "message", "incident_id"}}`) turned into an {@link ApiError}.
 *
 * Request and response bodies are never logged: they hold passwords and private text.
 */
import type {
  AuditEntry,
  BotCommandView,
  ButtonClicked,
  DeviceSessionView,
  SecurityNotice,
  SecuritySettings,
  DmResponse,
  EmailView,
  EndedSessions,
  FileView,
  LoginResult,
  MemberRole,
  MemberView,
  MembershipView,
  MessageView,
  ReadStateView,
  RecoveryCodes,
  ResetRequested,
  RoomView,
  SessionInfo,
  TotpEnrolment,
  TwoFactorStatus,
  UserPublicView,
  UserRole,
  UserView,
} from "./types";

const BASE = "/api/v1";

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly incidentId: string | null = null,
  ) {
    super(message);
  }

  /** A line fit for showing to the user, with the incident id to quote to an admin. */
  describe(): string {
    return this.incidentId ? `${this.message} (incident ${this.incidentId})` : this.message;
  }
}

let csrfToken: string | null = null;
let unauthorizedHandler: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when an authenticated request answers 401: the session is gone. */
export function onUnauthorized(handler: (() => void) | null): void {
  unauthorizedHandler = handler;
}

function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** Parse an error body of any shape into an ApiError without trusting it. */
export function toApiError(status: number, body: unknown): ApiError {
  if (typeof body === "object" && body !== null && "error" in body) {
    const err = (body as { error: unknown }).error;
    if (typeof err === "object" && err !== null) {
      const e = err as Record<string, unknown>;
      return new ApiError(
        status,
        typeof e.code === "string" ? e.code : "error",
        typeof e.message === "string" ? e.message : `Request failed (${status}).`,
        typeof e.incident_id === "string" ? e.incident_id : null,
      );
    }
  }
  if (status === 0) return new ApiError(0, "network", "The server could not be reached.");
  return new ApiError(status, "error", `Request failed (${status}).`);
}

type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function headersFor(method: string, json: boolean): Headers {
  const headers = new Headers({ Accept: "application/json" });
  if (json) headers.set("Content-Type", "application/json");
  if (!isSafeMethod(method) && csrfToken) headers.set("X-CSRF-Token", csrfToken);
  return headers;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Don't treat a 401 as "the session ended" (login, session probe). */
  expect401?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const hasBody = opts.body !== undefined;
  let response: Response;
  try {
    response = await fetch(BASE + withQuery(path, opts.query), {
      method,
      credentials: "same-origin",
      headers: headersFor(method, hasBody),
      body: hasBody ? JSON.stringify(opts.body) : null,
      signal: opts.signal ?? null,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw toApiError(0, null);
  }
  if (response.status === 204) return undefined as T;
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && !opts.expect401) unauthorizedHandler?.();
    throw toApiError(response.status, body);
  }
  return body as T;
}

// ---- uploads --------------------------------------------------------------------------

export interface Upload {
  promise: Promise<FileView>;
  abort(): void;
}

/**
 * Upload one file with XMLHttpRequest: fetch has no upload progress events.
 * `onProgress` receives a fraction in [0, 1].
 */
export function uploadFile(roomId: string, file: File, onProgress: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<FileView>((resolve, reject) => {
    xhr.open("POST", `${BASE}/rooms/${encodeURIComponent(roomId)}/files`);
    xhr.withCredentials = true;
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(xhr.response as FileView);
      } else {
        if (xhr.status === 401) unauthorizedHandler?.();
        reject(toApiError(xhr.status, xhr.response));
      }
    });
    xhr.addEventListener("error", () => reject(toApiError(0, null)));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "Upload cancelled.")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

export function fileUrl(fileId: string): string {
  return `${BASE}/files/${encodeURIComponent(fileId)}`;
}

// ---- endpoints ------------------------------------------------------------------------

const enc = encodeURIComponent;
export const ADMIN_PAGE = 200;

/** Every page of an id-ordered list (`after` = the last id of the previous page). */
export async function fetchAll<T extends { id: string }>(page: (after?: string) => Promise<T[]>, max = 50): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (let i = 0; i < max; i++) {
    const items = await page(after);
    all.push(...items);
    const last = items[items.length - 1];
    if (items.length < ADMIN_PAGE || !last) break;
    after = last.id;
  }
  return all;
}

export const api = {
  session: () => request<SessionInfo>("GET", "/auth/session", { expect401: true }),
  login: (username: string, password: string) =>
    request<LoginResult>("POST", "/auth/login", { body: { username, password, mode: "cookie" }, expect401: true }),
  /** The second step: a TOTP or recovery code redeems the challenge for a session. */
  loginSecondFactor: (challenge: string, code: string) =>
    request<LoginResult>("POST", "/auth/login/2fa", { body: { challenge, code, mode: "cookie" }, expect401: true }),
  logout: () => request<void>("POST", "/auth/logout", { expect401: true }),
  /**
   * Ask for a reset link by mail. Always 202 with the same answer (whether the account
   * exists is not the answer's to say); a 429 when asked too often.
   */
  requestPasswordReset: (usernameOrEmail: string) =>
    request<ResetRequested>("POST", "/auth/password-reset", {
      body: { username_or_email: usernameOrEmail },
      expect401: true,
    }),
  /**
   * Redeem a reset link's token: 204, and every session of the account ends. Any
   * problem with the link is one 400; a password the policy refuses is a 400 naming the
   * rule (the link keeps working).
   */
  confirmPasswordReset: (token: string, newPassword: string) =>
    request<void>("POST", "/auth/password-reset/confirm", {
      body: { token, new_password: newPassword },
      expect401: true,
    }),

  myRooms: () => request<MembershipView[]>("GET", "/rooms"),
  room: (id: string) => request<RoomView>("GET", `/rooms/${enc(id)}`),
  createRoom: (name: string, kind: "channel" | "private", topic?: string) =>
    request<RoomView>("POST", "/rooms", { body: topic ? { name, kind, topic } : { name, kind } }),
  updateRoom: (id: string, change: { topic?: string; archived?: boolean }) =>
    request<RoomView>("PATCH", `/rooms/${enc(id)}`, { body: change }),
  joinRoom: (id: string) => request<RoomView>("POST", `/rooms/${enc(id)}/join`),
  leaveRoom: (id: string) => request<void>("POST", `/rooms/${enc(id)}/leave`),
  directory: (query: string, limit = 200) =>
    request<RoomView[]>("GET", "/directory", { query: { query, limit } }),
  members: (id: string) => request<MemberView[]>("GET", `/rooms/${enc(id)}/members`),
  addMember: (roomId: string, userId: string) =>
    request<RoomView>("POST", `/rooms/${enc(roomId)}/members`, { body: { user_id: userId } }),
  removeMember: (roomId: string, userId: string) =>
    request<void>("DELETE", `/rooms/${enc(roomId)}/members/${enc(userId)}`),
  setMemberRole: (roomId: string, userId: string, role: MemberRole) =>
    request<void>("PATCH", `/rooms/${enc(roomId)}/members/${enc(userId)}`, { body: { role } }),
  openDm: (userIds: string[]) => request<DmResponse>("POST", "/dms", { body: { user_ids: userIds } }),
  markRead: (roomId: string, position: number) =>
    request<ReadStateView>("PUT", `/rooms/${enc(roomId)}/read`, { body: { position } }),

  history: (roomId: string, page: { before?: number; after?: number; around?: number; limit?: number }) =>
    request<MessageView[]>("GET", `/rooms/${enc(roomId)}/messages`, { query: { ...page } }),
  message: (id: string) => request<MessageView>("GET", `/messages/${enc(id)}`),
  post: (roomId: string, body: { text: string; client_id: string; thread_id?: string; file_ids?: string[] }) =>
    request<MessageView>("POST", `/rooms/${enc(roomId)}/messages`, { body }),
  edit: (id: string, text: string) => request<MessageView>("PATCH", `/messages/${enc(id)}`, { body: { text } }),
  remove: (id: string) => request<MessageView>("DELETE", `/messages/${enc(id)}`),
  pin: (id: string, pinned: boolean) => request<MessageView>(pinned ? "PUT" : "DELETE", `/messages/${enc(id)}/pin`),
  react: (id: string, emoji: string, add: boolean) =>
    request<MessageView>(add ? "PUT" : "DELETE", `/messages/${enc(id)}/reactions/${enc(emoji)}`),
  thread: (rootId: string, after?: number) =>
    request<MessageView[]>("GET", `/messages/${enc(rootId)}/thread`, { query: { after, limit: 200 } }),
  /** Click a bot's inline button, named by its position; 202 with the callback's id. */
  clickButton: (messageId: string, row: number, column: number) =>
    request<ButtonClicked>("POST", `/messages/${enc(messageId)}/buttons`, { body: { row, column } }),
  /** The commands of the bots in a room (for `/` autocompletion). */
  botCommands: (roomId: string) => request<BotCommandView[]>("GET", `/rooms/${enc(roomId)}/bot-commands`),
  search: (q: string, before?: number) =>
    request<MessageView[]>("GET", "/search", { query: { q, before, limit: 50 } }),

  user: (id: string) => request<UserPublicView>("GET", `/users/${enc(id)}`),
  findUser: (username: string) => request<UserPublicView[]>("GET", "/users", { query: { username } }),
  presence: () => request<string[]>("GET", "/presence"),

  updateMe: (displayName: string) => request<UserView>("PATCH", "/users/me", { body: { display_name: displayName } }),
  /** 204 on success; every other session of the caller ends. A wrong current password is 403. */
  changePassword: (currentPassword: string, newPassword: string) =>
    request<void>("POST", "/users/me/password", {
      body: { current_password: currentPassword, new_password: newPassword },
    }),

  myEmail: () => request<EmailView>("GET", "/users/me/email"),
  /** Set (or, with null, remove) the address reset links go to. A wrong password is 403. */
  setMyEmail: (email: string | null, currentPassword: string) =>
    request<EmailView>("PUT", "/users/me/email", { body: { email, current_password: currentPassword } }),

  twoFactor: () => request<TwoFactorStatus>("GET", "/users/me/2fa"),
  /** Start (or restart) enrolment: a new secret, inactive until confirmed. 409 when already on. */
  startTotp: () => request<TotpEnrolment>("POST", "/users/me/2fa/totp"),
  /** Activate with a first code; every other session of the caller ends. */
  // The calls that carry a code treat a 401 as "wrong code", not "signed out": the page
  // says so and the next ordinary request notices a session that really ended.
  confirmTotp: (code: string) =>
    request<RecoveryCodes>("POST", "/users/me/2fa/totp/confirm", { body: { code }, expect401: true }),
  regenerateRecoveryCodes: (code: string) =>
    request<RecoveryCodes>("POST", "/users/me/2fa/recovery-codes", { body: { code }, expect401: true }),
  /** Turn the second factor off (403 when the role requires it). */
  disableTwoFactor: (password: string, code: string) =>
    request<void>("DELETE", "/users/me/2fa", { body: { password, code }, expect401: true }),

  sessions: () => request<DeviceSessionView[]>("GET", "/sessions"),
  notices: () => request<SecurityNotice[]>("GET", "/users/me/notices"),
  markNoticeRead: (id: string) => request<void>("POST", `/users/me/notices/${enc(id)}/read`),
  endSession: (id: string) => request<void>("DELETE", `/sessions/${enc(id)}`),
  /** Sign out everywhere else: every session but this one ends. */
  endOtherSessions: () => request<EndedSessions>("DELETE", "/sessions"),

  adminUsers: (after?: string) => request<UserView[]>("GET", "/admin/users", { query: { after, limit: ADMIN_PAGE } }),
  adminRooms: (after?: string) => request<RoomView[]>("GET", "/admin/rooms", { query: { after, limit: ADMIN_PAGE } }),
  /** Newest first; `filters` as built by lib/audit.ts (action prefix, actor, target type, since/until). */
  audit: (before?: string, filters: Record<string, string | undefined> = {}) =>
    request<AuditEntry[]>("GET", "/admin/audit", { query: { ...filters, before, limit: 100 } }),
  createUser: (body: { username: string; password: string; display_name?: string; role: "admin" | "user" | "guest" }) =>
    request<UserView>("POST", "/users", { body }),
  deactivateUser: (id: string) => request<UserView>("POST", `/users/${enc(id)}/deactivate`),
  setUserRole: (id: string, role: Exclude<UserRole, "bot">) =>
    request<UserView>("PATCH", `/users/${enc(id)}`, { body: { role } }),
  adminUserSessions: (userId: string) => request<DeviceSessionView[]>("GET", `/admin/users/${enc(userId)}/sessions`),
  adminEndUserSessions: (userId: string) => request<EndedSessions>("DELETE", `/admin/users/${enc(userId)}/sessions`),
  /** A lost phone: the user's second factor and sessions go; they set it up again at next login. */
  /** Which roles must use a second factor (the deployment config until an admin saves one). */
  securitySettings: () => request<SecuritySettings>("GET", "/admin/security"),
  /** Applies from each user's next login; existing sessions are not ended. */
  saveSecuritySettings: (body: SecuritySettings) => request<SecuritySettings>("PUT", "/admin/security", { body }),
  adminResetTwoFactor: (userId: string) => request<void>("DELETE", `/admin/users/${enc(userId)}/2fa`),
};
