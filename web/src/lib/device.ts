/**
 * Short, human labels for the "Where you're signed in" list: which browser on which
 * system a session came from, and how long ago it was last used.
 *
 * Presentation only. A user agent is whatever the client chose to send, so nothing here
 * is evidence of anything and nothing may depend on it beyond the words on screen; the
 * raw string is still shown on hover for anyone who wants the detail. The result is text
 * for JSX, never markup.
 */

/** The longest label shown for a user agent we could not name. */
export const MAX_DEVICE_LABEL = 60;

// Order matters: several browsers claim to be others ("Edg/" and "OPR/" strings also
// say Chrome and Safari; Chrome says Safari), so the most specific token wins.
const BROWSERS: readonly [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, "Edge"],
  [/\b(?:OPR|Opera)\//, "Opera"],
  [/\bSamsungBrowser\//, "Samsung Internet"],
  [/\b(?:Firefox|FxiOS)\//, "Firefox"],
  [/\bChromium\//, "Chromium"],
  [/\b(?:HeadlessChrome|Chrome|CriOS)\//, "Chrome"],
  [/\bVersion\/[\d.]+.*\bSafari\//, "Safari"],
];

// iPhone and iPad user agents say "like Mac OS X", Android ones say "Linux": check the
// narrower systems first.
const SYSTEMS: readonly [RegExp, string][] = [
  [/\biPhone\b/, "iPhone"],
  [/\biPad\b/, "iPad"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bWindows\b/, "Windows"],
  [/\bMacintosh\b|\bMac OS X\b/, "macOS"],
  [/\bLinux\b|\bX11\b/, "Linux"],
];

function firstMatch(table: readonly [RegExp, string][], text: string): string | null {
  for (const [pattern, name] of table) if (pattern.test(text)) return name;
  return null;
}

/** Collapse control characters and runs of whitespace: the string is shown on one line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, " ").trim();
}

/** Cut `text` to at most `max` characters (code points, so no half emoji), marking the cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join("").trimEnd() + "…";
}

/**
 * "Chrome on Linux", "Firefox on Windows", "Safari on iPhone"; a browser without a known
 * system is just the browser; anything else (a script, a bot, a browser we don't know)
 * is the raw string, cut to {@link MAX_DEVICE_LABEL} characters.
 */
export function deviceLabel(userAgent: string): string {
  const ua = oneLine(userAgent);
  if (!ua) return "Unknown device";
  const browser = firstMatch(BROWSERS, ua);
  if (!browser) return truncate(ua, MAX_DEVICE_LABEL);
  const system = firstMatch(SYSTEMS, ua);
  return system ? `${browser} on ${system}` : browser;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const relative = new Intl.RelativeTimeFormat("en", { numeric: "always" });

/**
 * "just now", "2 minutes ago", "3 hours ago", "5 days ago"; older than a month, the date.
 * The server keeps last use to the minute, so anything under a minute is "just now", and
 * so is a time slightly in the future (the two clocks disagree).
 */
export function timeAgo(iso: string, now: number = Date.now()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "unknown";
  const elapsed = now - at;
  if (elapsed < MINUTE) return "just now";
  if (elapsed < HOUR) return relative.format(-Math.floor(elapsed / MINUTE), "minute");
  if (elapsed < DAY) return relative.format(-Math.floor(elapsed / HOUR), "hour");
  if (elapsed < 30 * DAY) return relative.format(-Math.floor(elapsed / DAY), "day");
  return new Date(at).toLocaleDateString("en", { year: "numeric", month: "short", day: "numeric" });
}
