/**
 * The geometry behind VirtualList, kept free of the DOM so it can be tested.
 *
 * A layout places variable-height rows one under another: a row's height is its measured
 * height when it has been rendered, an estimate otherwise. An anchor pins one row to a
 * distance from the top of the viewport; re-applying it after the layout changed (rows
 * prepended, estimates replaced by measurements) gives the scroll offset that keeps that
 * row exactly where the reader saw it.
 */

export interface Layout {
  keys: readonly string[];
  /** tops[i] is row i's offset from the top of the content; tops[keys.length] the total. */
  tops: Float64Array;
  total: number;
  indexOf: ReadonlyMap<string, number>;
}

export interface Anchor {
  key: string;
  /** Row top minus scroll offset: negative when the row starts above the viewport. */
  offset: number;
}

export function computeLayout(keys: readonly string[], heights: ReadonlyMap<string, number>, estimate: number): Layout {
  const tops = new Float64Array(keys.length + 1);
  const indexOf = new Map<string, number>();
  let y = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    tops[i] = y;
    indexOf.set(key, i);
    y += heights.get(key) ?? estimate;
  }
  tops[keys.length] = y;
  return { keys, tops, total: y, indexOf };
}

/** Index of the row containing offset `y` (the last row whose top is <= y); 0 when empty. */
export function rowAt(layout: Layout, y: number): number {
  let lo = 0;
  let hi = layout.keys.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((layout.tops[mid] as number) <= y) lo = mid;
    else hi = mid - 1;
  }
  return Math.max(0, lo);
}

/**
 * The row to hold still: the first row that starts inside the viewport and may serve as
 * an anchor. A row that starts inside the viewport rather than the one cut by its top
 * edge, because that partly hidden row may still carry an estimated height (it may just
 * have been prepended): correcting it would then move everything the reader sees.
 *
 * `canAnchor` excludes rows that stay put when others are inserted around them, such as a
 * "load older" header at index 0: anchoring to it at scrollTop 0 would keep the view at
 * the top while a page is prepended under it, which loads the next page, and so on
 * through the whole history.
 */
export function pickAnchor(
  layout: Layout,
  scrollTop: number,
  viewportHeight: number,
  canAnchor: (key: string) => boolean = () => true,
): Anchor | null {
  const n = layout.keys.length;
  if (n === 0) return null;
  const bottom = scrollTop + Math.max(viewportHeight, 0);
  const cut = rowAt(layout, scrollTop);
  const at = (i: number): Anchor => ({
    key: layout.keys[i] as string,
    offset: (layout.tops[i] as number) - scrollTop,
  });
  const firstInside = (layout.tops[cut] as number) < scrollTop ? cut + 1 : cut;
  for (let i = firstInside; i < n && (layout.tops[i] as number) < bottom; i++) {
    if (canAnchor(layout.keys[i] as string)) return at(i);
  }
  // No row starts on screen (one tall row fills it), or none that may anchor (an empty
  // room: only the header): hold the row under the top edge.
  return at(cut);
}

/** The scroll offset that puts the anchor back where it was, or null if its row is gone. */
export function anchoredScrollTop(layout: Layout, anchor: Anchor): number | null {
  const i = layout.indexOf.get(anchor.key);
  if (i === undefined) return null;
  return Math.max(0, (layout.tops[i] as number) - anchor.offset);
}

/** Whether the viewport shows the end of the content (within `slack` px). */
export function isAtBottom(layout: Layout, scrollTop: number, viewportHeight: number, slack: number): boolean {
  return layout.total - scrollTop - viewportHeight <= slack;
}

/** Rows [start, end] to render for a viewport, with `overscan` px either side. */
export function visibleRange(
  layout: Layout,
  scrollTop: number,
  viewportHeight: number,
  overscan: number,
): { start: number; end: number } {
  if (layout.keys.length === 0) return { start: 0, end: -1 };
  return {
    start: rowAt(layout, Math.max(0, scrollTop - overscan)),
    end: Math.min(layout.keys.length - 1, rowAt(layout, scrollTop + viewportHeight + overscan)),
  };
}
