import type { ComponentChildren } from "preact";

/** A panel beside the timeline (members, a thread): a landmark with a title and a close button. */
export function SidePanel(props: {
  title: string;
  class: string;
  testId: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  return (
    <aside class={`side-panel ${props.class}`} data-testid={props.testId} aria-label={props.title}>
      <header class="panel-header">
        <h2>{props.title}</h2>
        <button type="button" class="icon-button" aria-label={`Close ${props.title.toLowerCase()}`} onClick={props.onClose}>
          ×
        </button>
      </header>
      {props.children}
    </aside>
  );
}
