/**
 * Webhook attachments (title, link, text, colour, author, fields) made safe to show.
 *
 * The server validates them already; the client trusts none of it anyway (threat T12):
 * every string stays a string rendered as a text node, a link is kept only when it is
 * an absolute http(s) URL, and a colour only when it is exactly "#rrggbb" (it is then
 * set through the CSSOM, never as a style attribute in markup).
 */
import type { MessageAttachment } from "./types";

/** What the UI shows: the same shape with every field known to be safe to use as is. */
export interface SafeAttachment {
  title: string | null;
  /** An absolute http: or https: URL, or null (no link at all). */
  link: string | null;
  text: string | null;
  /** "#rrggbb", or null (no colour). */
  color: string | null;
  author: string | null;
  fields: { title: string; value: string; short: boolean }[];
}

/** More than a message could sensibly show: the rest is dropped, not rendered. */
export const MAX_ATTACHMENTS = 20;
export const MAX_FIELDS = 25;

const COLOR = /^#[0-9a-fA-F]{6}$/;

/** The colour if it is exactly "#rrggbb"; anything else (names, rgb(), CSS tricks) is null. */
export function safeColor(value: unknown): string | null {
  return typeof value === "string" && COLOR.test(value) ? value : null;
}

/**
 * The URL if it is absolute http or https (as the browser itself would parse it), else
 * null: no javascript:, data:, vbscript:, relative or protocol-relative links, and no
 * control characters or whitespace the parser would silently drop.
 */
export function safeLink(value: unknown): string | null {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) return null;
  // The URL parser strips tabs/newlines and leading/trailing spaces and controls:
  // "java\tscript:" would parse as javascript:. Refuse such input outright.
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(value)) return null;
  if (!/^https?:\/\//i.test(value)) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (!url.hostname) return null;
  return url.href;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

/**
 * The attachments of a message, safe to render. Accepts anything (a message from an
 * older server has none; a malformed one is skipped, not trusted).
 */
export function safeAttachments(raw: unknown): SafeAttachment[] {
  if (!Array.isArray(raw)) return [];
  const out: SafeAttachment[] = [];
  for (const item of raw.slice(0, MAX_ATTACHMENTS)) {
    if (typeof item !== "object" || item === null) continue;
    const a = item as Partial<Record<keyof MessageAttachment, unknown>>;
    const fields = Array.isArray(a.fields)
      ? a.fields
          .slice(0, MAX_FIELDS)
          .filter((f): f is Record<string, unknown> => typeof f === "object" && f !== null)
          .map((f) => ({
            title: typeof f.title === "string" ? f.title : "",
            value: typeof f.value === "string" ? f.value : "",
            short: f.short === true,
          }))
          .filter((f) => f.title || f.value)
      : [];
    const safe: SafeAttachment = {
      title: text(a.title),
      link: safeLink(a.title_link),
      text: text(a.text),
      color: safeColor(a.color),
      author: text(a.author_name),
      fields,
    };
    if (safe.title || safe.text || safe.author || safe.fields.length > 0 || safe.link) out.push(safe);
  }
  return out;
}
