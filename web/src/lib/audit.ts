/**
 * The admin audit log's filters: the form's fields turned into the query the server
 * takes (`GET /admin/audit` and the export, `GET /admin/audit/export?format=`), and the
 * export link. The export is a plain GET with the session cookie (an `<a download>`),
 * so the filters must be in the URL, built here and only here.
 */

export interface AuditFilterForm {
  /** Prefix of the action name ("hook." finds every webhook change). */
  action: string;
  /** An actor's user id; the page resolves a username to it before applying. */
  actorId: string;
  targetType: string;
  /** `<input type="datetime-local">` values (local time, no zone), or "". */
  since: string;
  until: string;
}

export const EMPTY_AUDIT_FILTERS: AuditFilterForm = { action: "", actorId: "", targetType: "", since: "", until: "" };

export type AuditQuery = Partial<Record<"action" | "actor_id" | "target_type" | "since" | "until", string>>;

/** Action names and target types, as the server takes them. */
const NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/** A local date-time from the form as an ISO 8601 UTC instant, or null if it isn't one. */
export function localToIso(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return null;
  const at = new Date(value); // no zone: local time, as the browser showed it
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** The query for the filters, or the first problem with them. */
export function auditQuery(form: AuditFilterForm): { ok: true; query: AuditQuery } | { ok: false; error: string } {
  const query: AuditQuery = {};
  const action = form.action.trim();
  if (action) {
    if (action.length > 64 || !NAME.test(action)) {
      return { ok: false, error: "An action is lower-case letters, digits and . _ - (like hook. or user.deactivate)." };
    }
    query.action = action;
  }
  const actor = form.actorId.trim();
  if (actor) {
    if (!/^[0-9]{1,20}$/.test(actor)) return { ok: false, error: "Unknown actor." };
    query.actor_id = actor;
  }
  const target = form.targetType.trim();
  if (target) {
    if (target.length > 64 || !NAME.test(target)) {
      return { ok: false, error: "A target type is lower-case letters, digits and . _ - (like user or room)." };
    }
    query.target_type = target;
  }
  for (const key of ["since", "until"] as const) {
    if (!form[key]) continue;
    const iso = localToIso(form[key]);
    if (!iso) return { ok: false, error: `"${key === "since" ? "From" : "Until"}" is not a date and time.` };
    query[key] = iso;
  }
  if (query.since && query.until && query.since > query.until) {
    return { ok: false, error: "\"From\" is after \"Until\"." };
  }
  return { ok: true, query };
}

/** The export's same-origin URL for the applied filters. */
export function auditExportUrl(format: "csv" | "jsonl", query: AuditQuery): string {
  const params = new URLSearchParams({ format });
  for (const key of ["action", "actor_id", "target_type", "since", "until"] as const) {
    const value = query[key];
    if (value) params.set(key, value);
  }
  return `/api/v1/admin/audit/export?${params.toString()}`;
}
