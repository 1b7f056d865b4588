import { useEffect, useState } from "preact/hooks";

import { absoluteTime } from "../../lib/time";
import { groupFindings, hooksApi, type DoctorReport } from "../../lib/webhooks";
import { ErrorAlert } from "../Feedback";
import { useAction } from "../hooks";

const SEVERITY_LABEL: Record<string, string> = { high: "High", medium: "Medium", low: "Low" };

/**
 * Admin → Doctor: the same review as `redoubt doctor` (secrets readable by others,
 * tokens without expiry, unused tokens and hooks, hooks in legacy URL-token mode,
 * admins without 2FA, TLS, debug settings), grouped by severity, with advice.
 */
export function Doctor() {
  const [report, setReport] = useState<DoctorReport | null>(null);
  const { busy, error, run } = useAction();

  const check = () => run(async () => setReport(await hooksApi.doctor()));
  useEffect(() => void check(), []);

  const groups = report ? groupFindings(report.findings) : [];

  return (
    <section aria-labelledby="doctor-title" data-testid="doctor">
      <h2 id="doctor-title">Doctor</h2>
      <p class="muted">A review of this deployment&rsquo;s settings, accounts and integrations.</p>
      <div class="settings-actions">
        <button type="button" data-testid="doctor-recheck" disabled={busy} onClick={() => void check()}>
          {busy ? "Checking…" : "Check again"}
        </button>
        {report && (
          <span class="muted small" data-testid="doctor-checked-at" role="status">
            Checked <time dateTime={report.checked_at}>{absoluteTime(report.checked_at)}</time>
          </span>
        )}
      </div>
      <ErrorAlert text={error} testId="doctor-error" />
      {report === null ? (
        !error && <p class="muted">Checking…</p>
      ) : groups.length === 0 ? (
        <p class="success" data-testid="doctor-empty">
          No findings: nothing to fix.
        </p>
      ) : (
        groups.map((g, index) => (
          <section
            key={g.severity}
            class={`doctor-group severity-${/^[a-z]+$/.test(g.severity) ? g.severity : "other"}`}
            data-testid="doctor-group"
            data-severity={g.severity}
            aria-labelledby={`doctor-group-${index}`}
          >
            <h3 id={`doctor-group-${index}`}>
              {SEVERITY_LABEL[g.severity] ?? g.severity} ({g.findings.length})
            </h3>
            <ul class="doctor-findings">
              {g.findings.map((f, i) => (
                <li key={`${f.id}-${i}`} class="doctor-finding" data-testid="doctor-finding" data-finding-id={f.id} data-severity={f.severity}>
                  <p class="doctor-title">
                    <strong>{f.title}</strong>
                    {f.subject && <span class="muted"> · {f.subject}</span>}
                  </p>
                  <p class="doctor-advice">{f.advice}</p>
                </li>
              ))}
            </ul>
          </section>
        ))
      )}
    </section>
  );
}
