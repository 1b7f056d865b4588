import type { ComponentChildren } from "preact";
import { createPortal } from "preact/compat";
import { useEffect, useRef } from "preact/hooks";

import { useEscape } from "./hooks";

/**
 * A modal dialog: labelled, focus moved inside on open and back on close, Esc closes.
 * Rendered into <body> so a dialog opened from a timeline row (positioned with a
 * transform, which would capture `position: fixed`) still covers the window.
 */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; testId?: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEscape(true, props.onClose);

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = box.current?.querySelector<HTMLElement>("input, select, textarea, button:not(.dialog-close)");
    (first ?? box.current)?.focus();
    return () => previous?.focus?.();
  }, []);

  const titleId = `dialog-${props.title.replace(/\W+/g, "-").toLowerCase()}`;
  return createPortal(
    <div class="dialog-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div
        ref={box}
        class="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        tabIndex={-1}
        data-testid={props.testId}
      >
        <div class="dialog-header">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" class="icon-button dialog-close" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </div>
        {props.children}
      </div>
    </div>,
    document.body,
  );
}

/** A dialog form's buttons: Cancel, and the submit button (disabled, with `busyLabel`, while busy). */
export function DialogFormActions(props: { onCancel: () => void; busy: boolean; testId: string; label: string; busyLabel: string }) {
  return (
    <div class="dialog-actions">
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
      <button type="submit" class="primary" data-testid={props.testId} disabled={props.busy}>
        {props.busy ? props.busyLabel : props.label}
      </button>
    </div>
  );
}
