/**
 * Bot keyboards on messages (issue 6): the inline keyboard under a bot's message and the
 * reply keyboard above the composer. The server checks their shape; the client trusts
 * none of it: everything here accepts `unknown` and returns only what is safe to render
 * as text (button labels) or as a link (http/https URLs only, through `safeLink`).
 *
 * Inline buttons are named to the server by their position (`row`, `column`) in the
 * keyboard as sent: callback data never reaches the client. So the positions are kept
 * as they were even when a malformed button beside them is dropped.
 */
import { safeLink } from "./attachments";
import type { MessageView } from "./types";

/** At most this many rows and buttons per row are shown (Telegram: 100 buttons, 8 a row). */
export const MAX_ROWS = 100;
export const MAX_COLUMNS = 12;
/** Button labels longer than this are cut (with "…"); the whole label is its tooltip. */
export const MAX_LABEL = 64;

export type InlineButtonKind = "callback" | "url" | "inert";

export interface InlineButton {
  /** The label, as text. */
  text: string;
  /** The whole label (for the tooltip and the accessible name). */
  fullText: string;
  /**
   * "callback": a button the server hears about; "url": an http(s) link;
   * "inert": a link to anything else (javascript:, data:, relative, malformed), shown
   * disabled and doing nothing.
   */
  kind: InlineButtonKind;
  /** The link, only for kind "url" (absolute http/https). */
  url: string | null;
  row: number;
  column: number;
}

export interface ReplyKeyboard {
  /** Rows of labels; a tap sends the label as a message. Empty for a bare force-reply. */
  keyboard: string[][];
  one_time: boolean;
  placeholder: string | null;
  force_reply: boolean;
  remove: boolean;
}

/** Labels and placeholders: a string cut to `max` characters (by code point), or null. */
export function label(value: unknown, max = MAX_LABEL): string | null {
  if (typeof value !== "string") return null;
  // Control characters (and bidi overrides, which can make a label read as another) go.
  const cleaned = value.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, " ").trim();
  if (!cleaned) return null;
  const points = Array.from(cleaned);
  return points.length > max ? `${points.slice(0, max - 1).join("")}…` : cleaned;
}

function isExactLabel(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length <= 4096 &&
    value.trim() !== "" &&
    !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(value)
  );
}

function fullLabel(value: unknown): string | null {
  return label(value, 512);
}

/**
 * The inline keyboard of a message as rows of buttons safe to render, or [] when it has
 * none (or nothing usable). Accepts anything.
 */
export function inlineKeyboard(raw: unknown): InlineButton[][] {
  if (!Array.isArray(raw)) return [];
  const rows: InlineButton[][] = [];
  raw.slice(0, MAX_ROWS).forEach((rawRow: unknown, row) => {
    if (!Array.isArray(rawRow)) return;
    const buttons: InlineButton[] = [];
    rawRow.slice(0, MAX_COLUMNS).forEach((b: unknown, column) => {
      if (typeof b !== "object" || b === null) return;
      const button = b as Record<string, unknown>;
      const text = label(button.text);
      const fullText = fullLabel(button.text);
      if (text === null || fullText === null) return;
      if (button.kind === "callback") {
        buttons.push({ text, fullText, kind: "callback", url: null, row, column });
      } else if (button.kind === "url") {
        const url = safeLink(button.url);
        buttons.push({ text, fullText, kind: url ? "url" : "inert", url, row, column });
      }
    });
    if (buttons.length > 0) rows.push(buttons);
  });
  return rows;
}

/** A message's reply keyboard as safe values, or null when it has none (or a malformed one). */
export function replyKeyboard(raw: unknown): ReplyKeyboard | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const keyboard: string[][] = [];
  if (Array.isArray(r.keyboard)) {
    for (const rawRow of r.keyboard.slice(0, MAX_ROWS)) {
      if (!Array.isArray(rawRow)) continue;
      // The label is what a tap sends, so it is kept exactly as the bot sent it (a bot
      // may compare the answer with it) or dropped: no control characters, not blank,
      // at most a message's length.
      const labels = rawRow.slice(0, MAX_COLUMNS).filter(isExactLabel);
      if (labels.length > 0) keyboard.push(labels);
    }
  }
  return {
    keyboard,
    one_time: r.one_time === true,
    placeholder: label(r.placeholder, 64),
    force_reply: r.force_reply === true,
    remove: r.remove === true,
  };
}

/** How many of the newest messages are searched for a reply keyboard. */
export const REPLY_KEYBOARD_LOOKBACK = 200;

export interface ActiveReplyKeyboard {
  /** The bot message the keyboard came with. */
  messageId: string;
  authorId: string;
  keyboard: ReplyKeyboard;
}

/**
 * The reply keyboard the composer shows now, from the room's messages in position order:
 * the newest message that carries one decides (the server sends it only to the users
 * the bot addressed). A "remove" clears it; a one-time keyboard (or a force-reply) is
 * gone once the user has written anything after it; a keyboard with no buttons and no force-reply shows
 * nothing.
 */
export function activeReplyKeyboard(
  messages: readonly MessageView[],
  meId: string,
  lookback = REPLY_KEYBOARD_LOOKBACK,
): ActiveReplyKeyboard | null {
  for (let i = messages.length - 1; i >= Math.max(0, messages.length - lookback); i--) {
    const m = messages[i];
    if (!m || m.deleted || m.author_id === meId) continue;
    const keyboard = replyKeyboard(m.reply_keyboard);
    if (keyboard === null) continue;
    if (keyboard.remove) return null;
    // One-time keyboards and force-reply ask for one answer: gone once the user wrote.
    const answered = messages.slice(i + 1).some((later) => later.author_id === meId);
    if ((keyboard.one_time || keyboard.force_reply) && answered) return null;
    if (keyboard.keyboard.length === 0 && !keyboard.force_reply) return null;
    return { messageId: m.id, authorId: m.author_id, keyboard };
  }
  return null;
}
