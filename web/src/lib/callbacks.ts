/**
 * Bot answers to button clicks (`bot.callback_answer` events), matched to the clicks
 * this page made. The server sends the answer to every device of the clicker; only the
 * page that clicked shows it. An answer can arrive on the event stream before the
 * click's own HTTP answer (a quick bot on a long poll), so unmatched answers wait a
 * little for their click.
 */
import { label } from "./botMarkup";
import type { CallbackAnswer } from "./types";

/** What the page shows: the bot's text (cut to Telegram's 200 characters) as a toast or an alert. */
export interface ShownAnswer {
  callbackId: string;
  text: string;
  alert: boolean;
}

export const MAX_ANSWER_TEXT = 200;
/** How long a click waits for its answer, and an answer for its click. */
export const CALLBACK_TTL_MS = 60_000;
const MAX_PENDING = 100;

/** The answer's parts that can be shown, or null (no text, or not an answer at all). */
export function shownAnswer(raw: unknown): ShownAnswer | null {
  if (typeof raw !== "object" || raw === null) return null;
  const a = raw as Partial<Record<keyof CallbackAnswer, unknown>>;
  if (typeof a.callback_id !== "string" || a.callback_id.length === 0 || a.callback_id.length > 128) return null;
  const text = label(a.text, MAX_ANSWER_TEXT);
  if (text === null) return null;
  return { callbackId: a.callback_id, text, alert: a.show_alert === true };
}

export class CallbackTracker {
  /** callback id → when this page's click was accepted. */
  private readonly clicks = new Map<string, number>();
  /** Answers that came before their click's HTTP answer: callback id → (answer, when). */
  private readonly early = new Map<string, { answer: unknown; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** This page's click was accepted as `callbackId`: its answer, if it already came. */
  clicked(callbackId: string): ShownAnswer | null {
    this.expire();
    const early = this.early.get(callbackId);
    if (early) {
      this.early.delete(callbackId);
      return shownAnswer(early.answer);
    }
    this.clicks.set(callbackId, this.now());
    trim(this.clicks);
    return null;
  }

  /** An answer event: what to show if this page clicked (each answer once), else null. */
  answered(answer: unknown): ShownAnswer | null {
    this.expire();
    if (typeof answer !== "object" || answer === null) return null;
    const id = (answer as { callback_id?: unknown }).callback_id;
    if (typeof id !== "string") return null;
    if (this.clicks.delete(id)) return shownAnswer(answer);
    this.early.set(id, { answer, at: this.now() });
    trim(this.early);
    return null;
  }

  private expire(): void {
    const cutoff = this.now() - CALLBACK_TTL_MS;
    for (const [id, at] of this.clicks) if (at < cutoff) this.clicks.delete(id);
    for (const [id, e] of this.early) if (e.at < cutoff) this.early.delete(id);
  }
}

/** Keep a map to its newest MAX_PENDING entries (insertion order is age). */
function trim<V>(map: Map<string, V>): void {
  for (const id of map.keys()) {
    if (map.size <= MAX_PENDING) break;
    map.delete(id);
  }
}
