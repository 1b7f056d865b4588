import { useEffect, useState } from "preact/hooks";

import { api } from "../lib/api";
import { deviceLabel, timeAgo } from "../lib/device";
import type { SecurityNotice } from "../lib/types";
import { ErrorAlert } from "./Feedback";
import { errorText } from "./hooks";
import { useNow } from "./Sessions";

/**
 * Security notices ("a new device signed in to your account"), newest first, with
 * "Mark as read". Every field is JSX text: the user agent came from whoever logged in.
 */
export function NoticesSection() {
  const [notices, setNotices] = useState<SecurityNotice[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow();

  useEffect(() => {
    api.notices().then(setNotices, (err) => setError(errorText(err)));
  }, []);

  async function markRead(id: string) {
    setError(null);
    try {
      await api.markNoticeRead(id);
      setNotices((list) => list?.map((n) => (n.id === id ? { ...n, read_at: new Date().toISOString() } : n)) ?? null);
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <section class="settings-section" aria-labelledby="notices-heading" data-testid="notices-section">
      <h2 id="notices-heading">Security notices</h2>
      <ErrorAlert text={error} />
      {notices === null && !error && <p class="muted">Loading…</p>}
      {notices?.length === 0 && <p class="muted">Nothing to report.</p>}
      {notices && notices.length > 0 && (
        <ul class="notice-list">
          {notices.map((n) => (
            <li key={n.id} class={`notice ${n.read_at ? "read" : "unread"}`} data-testid="notice" data-notice-id={n.id}>
              <p>
                {noticeText(n)}
                <span class="muted"> · {timeAgo(n.created_at, now)}</span>
              </p>
              {!n.read_at && (
                <button type="button" class="small" data-testid="notice-read" onClick={() => void markRead(n.id)}>
                  Mark as read
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A notice as a sentence. Every value in `details` is text from the server, shown as text. */
function noticeText(n: SecurityNotice): string {
  const d = (key: string, fallback = "") => {
    const value = n.details[key];
    return typeof value === "string" || typeof value === "number" ? String(value) : fallback;
  };
  const token = () => `${d("owner") ? `${d("owner")}'s ` : ""}API token "${d("token_name", "unnamed")}"`;
  switch (n.kind) {
    case "new_device_login":
      return `New sign-in from ${deviceLabel(d("user_agent"))} at ${d("ip", "an unknown address")}`;
    case "token_new_network":
      return `${token()} was used from a new address range, ${d("network", "unknown")} (${d("ip", "unknown address")}). Not you? Revoke it.`;
    case "token_rate_jump":
      return `${token()} made ${d("requests", "many")} requests in an hour, far above its usual ${d("hourly_average", "rate")}. Not you? Revoke it.`;
    case "webhook_disabled":
      return `Outgoing webhook "${d("hook_name", "unnamed")}" was disabled after ${d("attempts", "repeated")} failed delivery attempts (${d("last_error", "no answer")}). Fix the receiver, then enable it again under Admin → Integrations.`;
    default:
      return n.kind;
  }
}
