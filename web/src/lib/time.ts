/** A server time (ISO 8601) in the viewer's locale; the raw text if it doesn't parse. */
export function absoluteTime(iso: string | null | undefined, fallback = "—"): string {
  if (!iso) return fallback;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}
