/**
 * A tiny History-API router: parse a location into a {@link Route}, navigate, and
 * notify subscribers. No dependency: the app has a handful of routes.
 */

export type AdminSection = "users" | "rooms" | "audit" | "security" | "integrations" | "tokens" | "bots" | "doctor";

export type Route =
  | { name: "login"; next: string }
  | { name: "home" }
  | { name: "room"; roomId: string; messageId: string | null }
  | { name: "search"; q: string }
  | { name: "admin"; section: AdminSection }
  | { name: "settings" }
  | { name: "reset" }
  | { name: "not-found"; path: string };

// Ids are decimal on the wire; anything else in a room URL is a bad link, not a room.
const ID = "([0-9]{1,20})";
const ROOM = new RegExp(`^/r/${ID}/?$`);
const ROOM_MESSAGE = new RegExp(`^/r/${ID}/m/${ID}/?$`);
const ADMIN = /^\/admin(?:\/(users|rooms|audit|security|integrations|tokens|bots|doctor))?\/?$/;

export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  if (pathname === "/login") return { name: "login", next: sanitizeNext(params.get("next")) };
  if (pathname === "/" || pathname === "") return { name: "home" };
  if (pathname === "/settings" || pathname === "/settings/") return { name: "settings" };
  // The token is in the fragment, which the page reads itself (lib/reset.ts).
  if (pathname === "/reset" || pathname === "/reset/") return { name: "reset" };
  if (pathname === "/search") return { name: "search", q: params.get("q") ?? "" };
  let m = ROOM.exec(pathname);
  if (m?.[1]) return { name: "room", roomId: m[1], messageId: null };
  m = ROOM_MESSAGE.exec(pathname);
  if (m?.[1] && m[2]) return { name: "room", roomId: m[1], messageId: m[2] };
  m = ADMIN.exec(pathname);
  if (m) return { name: "admin", section: (m[1] as AdminSection | undefined) ?? "users" };
  return { name: "not-found", path: pathname };
}

/**
 * Where to go after logging in. Only a same-site path is honoured: it must start with
 * exactly one "/" ("//host" and "/\host" are other hosts to a browser), contain no
 * control characters or backslashes, and not point back at the login page.
 */
export function sanitizeNext(next: string | null | undefined): string {
  if (!next || next.length > 2048) return "/";
  if (!next.startsWith("/") || next.startsWith("//")) return "/";
  // Browsers treat "\" like "/" and drop tabs/newlines, so "/\evil" and "/\t/evil" are
  // cross-origin in disguise.
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return "/";
  // Reject anything the URL parser would resolve off-site or into another scheme.
  try {
    const resolved = new URL(next, "https://redoubt.invalid");
    if (resolved.origin !== "https://redoubt.invalid") return "/";
    if (resolved.pathname === "/login") return "/";
    return resolved.pathname + resolved.search + resolved.hash;
  } catch {
    return "/";
  }
}

export function loginPath(next: string): string {
  const safe = sanitizeNext(next);
  return safe === "/" ? "/login" : `/login?next=${encodeURIComponent(safe)}`;
}

export function roomPath(roomId: string): string {
  return `/r/${roomId}`;
}

export function messagePath(roomId: string, messageId: string): string {
  return `/r/${roomId}/m/${messageId}`;
}

export const SETTINGS_PATH = "/settings";

export function searchPath(q: string): string {
  return `/search?q=${encodeURIComponent(q)}`;
}

type Listener = (route: Route) => void;
const listeners = new Set<Listener>();

export function currentPath(): string {
  return window.location.pathname + window.location.search;
}

export function currentRoute(): Route {
  return parseRoute(window.location.pathname, window.location.search);
}

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  // In-app navigation only ever goes to paths on this site.
  if (!path.startsWith("/") || path.startsWith("//")) return;
  if (path === currentPath()) return;
  if (opts.replace) window.history.replaceState(null, "", path);
  else window.history.pushState(null, "", path);
  emit();
}

function emit(): void {
  const route = currentRoute();
  for (const l of listeners) l(route);
}

export function subscribeRoute(listener: Listener): () => void {
  if (listeners.size === 0) window.addEventListener("popstate", emit);
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) window.removeEventListener("popstate", emit);
  };
}

/**
 * Route same-origin link clicks through the router instead of a full page load.
 * Modified clicks (new tab, download) and non-app links keep the browser's behaviour.
 */
export function interceptLinkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const anchor = (e.target as Element | null)?.closest?.("a");
  if (!anchor || anchor.hasAttribute("download") || anchor.target === "_blank") return;
  const href = anchor.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || href.startsWith("/api/")) return;
  e.preventDefault();
  navigate(href);
}
