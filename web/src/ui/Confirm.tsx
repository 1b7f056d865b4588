import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

import { Dialog } from "./Dialog";

/**
 * Asks before something that can't be undone from the client (deleting a message,
 * leaving or archiving a room, deactivating an account). Never `window.confirm`: a
 * native dialog blocks the page and can't be styled or tested like the rest.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  children: ComponentChildren;
}) {
  return (
    <Dialog title={props.title} onClose={props.onCancel} testId="confirm-dialog">
      <div class="confirm-body">{props.children}</div>
      <div class="dialog-actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button
          type="button"
          class="danger"
          data-testid="confirm-yes"
          onClick={() => {
            props.onConfirm();
            props.onCancel();
          }}
        >
          {props.confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

/** The question waiting for an answer, if any, and a way to ask one. */
export function useConfirm(): [ComponentChildren, (question: Question) => void] {
  const [question, setQuestion] = useState<Question | null>(null);
  const dialog = question && (
    <ConfirmDialog
      title={question.title}
      confirmLabel={question.confirmLabel}
      onConfirm={question.onConfirm}
      onCancel={() => setQuestion(null)}
    >
      <p>{question.text}</p>
    </ConfirmDialog>
  );
  return [dialog, setQuestion];
}

export interface Question {
  title: string;
  text: string;
  confirmLabel: string;
  onConfirm: () => void;
}
