/**
 * The reset link's token: `/reset#token=<token>`.
 *
 * The token rides in the fragment so that it never reaches a server, proxy log or
 * `Referer` header. The page reads it once, from `location.hash` only (never from the
 * query string: a token there has already been sent to every hop), and removes it from
 * the address bar at once with `history.replaceState`, so it doesn't linger in the
 * history, a bookmark, or a shared screenshot of the URL. From then on it lives only in
 * the page's memory until the one request that uses it.
 */

/** Longer than any token the server issues (58 characters) with room to spare. */
export const MAX_RESET_TOKEN = 128;
// The server's tokens are URL-safe base64 with a prefix and a checksum; anything outside
// this alphabet is a mangled link (a mail client's line wrap, a stray quote), not a token.
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** The token in a location hash ("#token=..."), or null when there is none or it is malformed. */
export function readResetToken(hash: string): string | null {
  const fragment = hash.startsWith("#") ? hash.slice(1) : hash;
  if (!fragment) return null;
  const token = new URLSearchParams(fragment).get("token");
  if (!token || token.length > MAX_RESET_TOKEN || !TOKEN.test(token)) return null;
  return token;
}

/**
 * Take the token out of the current URL: read it, then replace the history entry with
 * the same path minus the fragment (whether or not the token was usable: a malformed
 * one is no more fit to linger). Returns null when the page has no token.
 */
export function takeResetToken(loc: Location = window.location, history: History = window.history): string | null {
  if (!loc.hash) return null;
  const token = readResetToken(loc.hash);
  history.replaceState(history.state, "", loc.pathname + loc.search);
  return token;
}
