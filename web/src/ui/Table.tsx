import type { ComponentChildren } from "preact";

/**
 * The pieces the admin and settings lists share: a list that is loading, empty or
 * shown, and a scrollable table with a hidden caption and column headers.
 */

/** "Loading…" (unless the load failed: the error says so), the empty text, or the list. */
export function Listing<T>(props: {
  items: T[] | null;
  error: string | null;
  empty: string;
  emptyTestId?: string;
  children: (items: T[]) => ComponentChildren;
}) {
  if (props.items === null) return props.error ? null : <p class="muted">Loading…</p>;
  if (props.items.length === 0) {
    return (
      <p class="muted" data-testid={props.emptyTestId}>
        {props.empty}
      </p>
    );
  }
  return <>{props.children(props.items)}</>;
}

/** A table that scrolls sideways on a narrow screen; `caption` is for screen readers. */
export function DataTable(props: { caption: string; columns: string[]; class?: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll">
      <table class={props.class ? `admin-table ${props.class}` : "admin-table"}>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
