/**
 * `/command` autocompletion in the composer (issue 6): the commands the room's bots set
 * with `setMyCommands` (`GET /rooms/{id}/bot-commands`), filtered by what the user has
 * typed after a leading "/". Pure functions; the composer keeps the state.
 */
import type { BotCommandView } from "./types";

export interface CommandOption {
  /** A stable key and the option's DOM id suffix. */
  key: string;
  /** What the option inserts: "/command " (or "/command@bot " when two bots share it). */
  insert: string;
  command: string;
  botUsername: string;
  description: string;
}

/** Telegram's command rule: 1-32 of lower-case letters, digits and underscores. */
const COMMAND = /^[a-z0-9_]{1,32}$/;
const USERNAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_OPTIONS = 20;
const MAX_DESCRIPTION = 256;

/**
 * What to complete: the text after "/" when the composer holds only "/" and a partial
 * command (no space yet, the caret at its end), else null.
 */
export function commandQuery(text: string, caret: number = text.length): string | null {
  if (caret !== text.length) return null;
  const m = /^\/([A-Za-z0-9_]{0,32})(?:@([A-Za-z0-9_.-]{0,64}))?$/.exec(text);
  if (!m) return null;
  return text.slice(1);
}

/** The server's list, checked: malformed entries are dropped, descriptions cut. */
export function commandOptions(raw: unknown): CommandOption[] {
  if (!Array.isArray(raw)) return [];
  const valid: Omit<CommandOption, "insert" | "key">[] = [];
  const seen = new Set<string>();
  for (const entry of raw.slice(0, 1000)) {
    if (typeof entry !== "object" || entry === null) continue;
    const e = entry as Partial<Record<keyof BotCommandView, unknown>>;
    if (typeof e.command !== "string" || !COMMAND.test(e.command)) continue;
    if (typeof e.bot_username !== "string" || !USERNAME.test(e.bot_username)) continue;
    const id = `${e.command}@${e.bot_username}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const description =
      typeof e.description === "string"
        ? Array.from(e.description.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, " "))
            .slice(0, MAX_DESCRIPTION)
            .join("")
        : "";
    valid.push({ command: e.command, botUsername: e.bot_username, description });
  }
  const counts = new Map<string, number>();
  for (const v of valid) counts.set(v.command, (counts.get(v.command) ?? 0) + 1);
  return valid
    .map((v, i) => ({
      ...v,
      key: String(i),
      insert: (counts.get(v.command) ?? 0) > 1 ? `/${v.command}@${v.botUsername} ` : `/${v.command} `,
    }))
    .sort((a, b) => a.command.localeCompare(b.command) || a.botUsername.localeCompare(b.botUsername));
}

/** The options matching a query from {@link commandQuery}: command prefix, then "@bot" prefix. */
export function matchCommands(options: readonly CommandOption[], query: string): CommandOption[] {
  const [command = "", bot] = query.toLowerCase().split("@", 2);
  return options
    .filter((o) => o.command.startsWith(command) && (bot === undefined || o.botUsername.toLowerCase().startsWith(bot)))
    .slice(0, MAX_OPTIONS);
}

/** Arrow keys in the list: the next (or previous) option, wrapping; -1 for an empty list. */
export function moveSelection(current: number, delta: number, count: number): number {
  if (count <= 0) return -1;
  if (current < 0) return delta > 0 ? 0 : count - 1;
  return (((current + delta) % count) + count) % count;
}
