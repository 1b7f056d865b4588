/**
 * How the app says that something failed or worked, the same everywhere: an error is
 * announced (role=alert), a success politely (role=status). Both are text, never markup.
 */

export function ErrorAlert(props: { text: string | null | undefined; testId?: string; class?: string }) {
  if (!props.text) return null;
  return (
    <p class={props.class ? `error ${props.class}` : "error"} role="alert" data-testid={props.testId}>
      {props.text}
    </p>
  );
}

export function SuccessNote(props: { text: string | null | undefined; testId?: string }) {
  if (!props.text) return null;
  return (
    <p class="success" role="status" data-testid={props.testId}>
      {props.text}
    </p>
  );
}
