import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

import { deviceLabel, timeAgo } from "../lib/device";
import type { DeviceSessionView } from "../lib/types";

/**
 * The signed-in devices of one account, as a list: shared by the account page (your
 * own, with "Sign out" per device) and the admin page (anyone's, read-only rows).
 *
 * Every string from the session (user agent, address) is JSX text or an attribute set
 * through JSX: escaped, never markup.
 */

/** The current time, advancing every `intervalMs`, so "2 minutes ago" stays true. */
export function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function absolute(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}

export function SessionList(props: {
  sessions: DeviceSessionView[];
  rowTestId: string;
  /** Controls for one row (say, a "Sign out" button); none for the current session's row if omitted. */
  actions?: (session: DeviceSessionView) => ComponentChildren;
  label: string;
}) {
  const now = useNow();
  if (props.sessions.length === 0) return <p class="muted">No active sessions.</p>;
  return (
    <ul class="session-list" aria-label={props.label}>
      {props.sessions.map((s) => {
        const device = deviceLabel(s.user_agent);
        return (
          <li
            key={s.id}
            class={`session-row ${s.current ? "current" : ""}`}
            data-testid={props.rowTestId}
            data-session-id={s.id}
            data-current={s.current ? "true" : "false"}
          >
            <div class="session-info">
              <div class="session-device">
                <span title={s.user_agent || undefined}>{device}</span>
                {s.current && <span class="tag this-device">This device</span>}
              </div>
              <div class="session-meta muted">
                <span>
                  <span class="visually-hidden">Address: </span>
                  {s.ip || "unknown address"}
                </span>
                {" · "}
                <span>
                  Last used{" "}
                  <time dateTime={s.last_seen_at} title={absolute(s.last_seen_at)}>
                    {timeAgo(s.last_seen_at, now)}
                  </time>
                </span>
                {" · "}
                <span>
                  Signed in <time dateTime={s.created_at}>{absolute(s.created_at)}</time>
                </span>
              </div>
            </div>
            {props.actions && <div class="session-actions">{props.actions(s)}</div>}
          </li>
        );
      })}
    </ul>
  );
}
