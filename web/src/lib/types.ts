/**
 * Wire types of the REST API and the event stream, matching docs/openapi.json and the
 * views in src/redoubt/domain/views.py. Ids are strings; times are ISO 8601 strings.
 */

export type UserRole = "admin" | "user" | "bot" | "guest";
export type RoomKind = "channel" | "private" | "dm";
export type MemberRole = "owner" | "moderator" | "member";

export interface UserPublicView {
  id: string;
  username: string;
  display_name: string;
  role: UserRole;
}

export interface UserView extends UserPublicView {
  is_active: boolean;
}

export interface RoomView {
  id: string;
  kind: RoomKind;
  /** null for DMs: clients show the other participants' names. */
  name: string | null;
  topic: string;
  archived: boolean;
  created_by: string;
  created_at: string;
  member_count: number;
  dm_user_ids: string[];
}

export interface MemberView {
  user_id: string;
  role: MemberRole;
}

export interface ReadStateView {
  room_id: string;
  last_read_position: number;
  unread_count: number;
  mention_count: number;
}

export interface MembershipView {
  room: RoomView;
  role: MemberRole;
  read: ReadStateView;
}

export interface ReactionView {
  emoji: string;
  user_ids: string[];
}

export interface FileView {
  id: string;
  room_id: string;
  filename: string;
  content_type: string;
  size: number;
  created_at: string;
}

export interface MessageView {
  id: string;
  room_id: string;
  author_id: string;
  /** Unique within a room; history is ordered by it. */
  position: number;
  content_type: string;
  text: string;
  thread_id: string | null;
  reply_count: number;
  mentions: string[];
  mentions_room: boolean;
  client_id: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  pinned_at: string | null;
  pinned_by: string | null;
  reactions: ReactionView[];
  files: FileView[];
  /**
   * Structured parts a webhook sent beside the text (Slack-style attachments). Absent
   * from older servers and messages without any: treat as []. Shown as text only
   * (ui/MessageAttachments.tsx), never through the markdown renderer.
   */
  attachments?: MessageAttachment[];
  /**
   * A bot's inline keyboard (issue 6): rows of buttons; a click names the button by
   * its position (`POST /messages/{id}/buttons`). Callback data never reaches clients.
   * Absent from older servers; rendered through lib/botMarkup.ts only.
   */
  inline_keyboard?: InlineKeyboardButtonView[][] | null;
  /** A bot's reply keyboard, present only for the users the bot addressed. */
  reply_keyboard?: ReplyKeyboardView | null;
}

export interface InlineKeyboardButtonView {
  text: string;
  kind: "callback" | "url";
  url: string | null;
}

export interface ReplyKeyboardView {
  keyboard: string[][];
  one_time: boolean;
  placeholder: string | null;
  force_reply: boolean;
  remove: boolean;
}

/** `POST /messages/{id}/buttons`: the click was handed to the bot. */
export interface ButtonClicked {
  callback_id: string;
}

/** `GET /rooms/{id}/bot-commands`: the commands of the bots in a room. */
export interface BotCommandView {
  bot_id: string;
  bot_username: string;
  command: string;
  description: string;
}

/** A bot's answer to a button click (`answerCallbackQuery`), sent to the clicker. */
export interface CallbackAnswer {
  callback_id: string;
  text: string | null;
  show_alert: boolean;
}

/** One webhook attachment. The server checks the shape; the client trusts none of it. */
export interface MessageAttachment {
  title: string | null;
  /** Only http(s) is ever made a link (lib/attachments.ts). */
  title_link: string | null;
  text: string | null;
  /** "#rrggbb", or anything else, which is ignored. */
  color: string | null;
  author_name: string | null;
  fields: AttachmentField[];
}

export interface AttachmentField {
  title: string;
  value: string;
  short: boolean;
}

export interface AuditEntry {
  id: string;
  action: string;
  actor_id: string | null;
  target_type: string;
  target_id: string | null;
  at: string;
  ip: string;
  details: Record<string, unknown>;
}

export interface SessionInfo {
  user: UserView;
  csrf_token: string;
  /**
   * The account's role requires a second factor it hasn't set up: until it does, the
   * server answers nothing but the enrolment calls, `/auth/session`, `/users/me` and
   * logout, and refuses the event stream. Absent is false.
   */
  enrol_only?: boolean;
}

/** `GET`/`PUT /users/me/email`: where password reset links go (null: nowhere). */
export interface EmailView {
  email: string | null;
}

/** `POST /auth/password-reset`: the same answer whatever the account, or lack of one. */
export interface ResetRequested {
  message: string;
}

/** How a second step at login may be answered. */
export type SecondFactorMethod = "totp" | "recovery_code";

/**
 * The login answer: a session, or a request for a second factor. No session exists
 * during the second step: `challenge` (single-use, 5 minutes, 5 wrong codes) is what
 * `POST /auth/login/2fa` redeems.
 */
export type LoginResult =
  | (SessionInfo & { status?: "ok" })
  | { status: "two_factor_required"; challenge: string; methods: SecondFactorMethod[] };

/** GET/PUT /admin/security: the roles that must use a second factor. */
export interface SecuritySettings {
  require_2fa_roles: ("admin" | "user" | "guest")[];
}

/** `GET /users/me/2fa`. "pending" is an enrolment started but not yet confirmed with a code. */
export interface TwoFactorStatus {
  totp: "none" | "pending" | "active";
  recovery_codes_left: number;
  /** The account's role requires a second factor: it can't be turned off. */
  required: boolean;
}

/** `POST /users/me/2fa/totp`: the new secret, shown once as a QR code and as text. */
export interface TotpEnrolment {
  secret: string;
  otpauth_uri: string;
}

/** Fresh recovery codes (after confirming enrolment, or on request): shown once. */
export interface RecoveryCodes {
  recovery_codes: string[];
}

/** A security notice (`GET /users/me/notices`), newest first. */
export interface SecurityNotice {
  id: string;
  /** `new_device_login`: details hold the `ip` and `user_agent` of that login. */
  kind: string;
  details: Record<string, unknown>;
  created_at: string;
  read_at: string | null;
}

/** One signed-in device (`GET /sessions`, `GET /admin/users/{id}/sessions`), newest use first. */
export interface DeviceSessionView {
  id: string;
  created_at: string;
  /** Last use, to the minute. */
  last_seen_at: string;
  expires_at: string;
  ip: string;
  /** Whatever the device sent: shown as text, trusted for nothing. */
  user_agent: string;
  /** The session this request came with ("This device"). */
  current: boolean;
}

/** How many sessions a "sign out everywhere" ended. */
export interface EndedSessions {
  ended: number;
}

export interface DmResponse extends RoomView {
  created: boolean;
}

// ---- event stream -------------------------------------------------------------------

export type StoredEvent =
  | { seq: number; type: "message.created"; data: MessageView }
  | { seq: number; type: "message.updated"; data: MessageView }
  | { seq: number; type: "message.deleted"; data: MessageView }
  | { seq: number; type: "reaction.added"; data: ReactionEventData }
  | { seq: number; type: "reaction.removed"; data: ReactionEventData }
  | { seq: number; type: "room.updated"; data: { room: RoomView } }
  | {
      seq: number;
      type: "room.member_added";
      data: { room: RoomView; user_id: string; role: MemberRole; read: ReadStateView };
    }
  | { seq: number; type: "room.member_removed"; data: { room: RoomView; user_id: string } }
  | {
      seq: number;
      type: "room.member_updated";
      data: { room_id: string; user_id: string; role: MemberRole };
    }
  | { seq: number; type: "read.updated"; data: ReadStateView }
  | { seq: number; type: "user.updated"; data: UserView }
  | {
      seq: number;
      type: "session.ended";
      data: { session_id: string | null; reason: string };
    }
  | { seq: number; type: "bot.callback_answer"; data: CallbackAnswer };

export interface ReactionEventData {
  message: MessageView;
  user_id: string;
  emoji: string;
}

export interface TypingFrame {
  type: "typing";
  data: { room_id: string; user_id: string };
}

export interface PresenceFrame {
  type: "presence";
  data: { changes: { user_id: string; status: "online" | "offline" }[] };
}

export type PresenceStatus = "online" | "offline";
