import { useReducer, useState } from "preact/hooks";

import { secretOnce, type ShownSecret } from "../lib/secretOnce";
import { Dialog } from "./Dialog";

/**
 * The secret on screen, if any, and a way to show one. Closing the dialog (Done, ×,
 * Escape, a click outside) forgets it: the state goes back to null and the value is no
 * longer referenced by the page.
 */
export function useSecretOnce(): [ShownSecret | null, (secret: ShownSecret) => void, () => void] {
  const [shown, dispatch] = useReducer(secretOnce, null);
  return [shown, (secret) => dispatch({ type: "show", secret }), () => dispatch({ type: "close" })];
}

/**
 * A secret the server shows this once: read-only fields to copy from, a copy button,
 * and the plain warning that it won't be shown again.
 */
export function SecretDialog(props: { secret: ShownSecret; onClose: () => void }) {
  const { secret } = props;
  return (
    <Dialog title={secret.title} onClose={props.onClose} testId="secret-dialog">
      <p class="secret-once-note" data-testid="secret-once-note">
        <strong>Copy it now: you won&rsquo;t see it again.</strong> Redoubt keeps only a hash of it. If it is lost,
        rotate it for a new one.
      </p>
      {secret.items.map((item, i) => (
        <SecretField key={i} index={i} label={item.label} value={item.value} />
      ))}
      {secret.warning && (
        <p class="error warning-box" role="alert" data-testid="secret-warning">
          {secret.warning}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="primary" data-testid="secret-done" onClick={props.onClose}>
          I copied it
        </button>
      </div>
    </Dialog>
  );
}

function SecretField(props: { index: number; label: string; value: string }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  const id = `secret-value-${props.index}`;

  async function copy() {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  }

  return (
    <div class="secret-field">
      <label for={id}>{props.label}</label>
      <div class="secret-row">
        <input
          id={id}
          class="secret-value"
          data-testid={props.index === 0 ? "secret-value" : "secret-value-extra"}
          type="text"
          readOnly
          value={props.value}
          autoComplete="off"
          spellcheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" data-testid="secret-copy" aria-label={`Copy ${props.label}`} onClick={() => void copy()}>
          Copy
        </button>
      </div>
      <span role="status" class={copied === "no" ? "error small" : "muted small"}>
        {copied === "yes" ? "Copied." : copied === "no" ? "Couldn't copy: select the text instead." : ""}
      </span>
    </div>
  );
}
