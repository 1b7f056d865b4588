/**
 * A windowed list with variable-height rows: only rows near the viewport are in the
 * DOM, positioned with CSS transforms (set through CSSOM, which the CSP allows).
 *
 * Row heights start as an estimate and are measured with a ResizeObserver once a row has
 * rendered. What keeps the view still while heights and rows change is an anchor
 * (lib/anchor.ts): a visible row and its distance from the top of the viewport,
 * re-applied after every layout change. So prepending an older page moves the scroll
 * offset down by the height of the new rows (estimated, then corrected as they are
 * measured) and the reader's message stays put; an image above finishing loading doesn't
 * move it either. The browser's own scroll anchoring is off (`overflow-anchor: none` in
 * app.css): it does nothing at scrollTop 0, which is exactly where prepending happens,
 * and elsewhere it would fight ours.
 *
 * Three things take precedence over the reader's anchor, in order:
 * - a focused row (a message link): scrolled to a third of the way down and held there
 *   while the rows around it are measured, until the reader scrolls;
 * - the bottom, when the reader is there and `followBottom` is set (new rows scroll in);
 * - on first paint, the list opens at the focused row or else at the bottom, and renders
 *   only what is on screen; the overscan above and below follows after that paint.
 */
import type { ComponentChildren, VNode } from "preact";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";

import {
  type Anchor,
  anchoredScrollTop,
  computeLayout,
  isAtBottom,
  type Layout,
  pickAnchor,
  visibleRange,
} from "../lib/anchor";

export interface ScrollInfo {
  /** Distance from the top of the content to the top of the viewport. */
  fromTop: number;
  /** Distance from the bottom of the viewport to the bottom of the content. */
  fromBottom: number;
}

export interface VirtualListProps {
  keys: readonly string[];
  renderRow: (key: string) => VNode;
  /** Scroll this row into view whenever this value changes (e.g. a message link). */
  focusKey?: string | null;
  /** Stay at the bottom when new rows arrive while the reader is there. */
  followBottom: boolean;
  /**
   * Rows that may hold the view still. Exclude rows that don't move when others are
   * inserted next to them (a header above prepended pages); default: every row.
   */
  canAnchor?: (key: string) => boolean;
  onScroll?: (info: ScrollInfo) => void;
  estimatedHeight?: number;
  overscanPx?: number;
  className?: string;
  label: string;
  testId?: string;
  /** Things rendered inside the scroller but outside the list (drop overlay). */
  children?: ComponentChildren;
  scrollerRef?: (el: HTMLDivElement | null) => void;
}

interface Viewport {
  top: number;
  height: number;
}

/** How close (px) to the end counts as "at the bottom". */
const BOTTOM_SLACK = 8;
/** A focused row sits this far down the viewport, with context above it. */
const FOCUS_FRACTION = 1 / 3;

export function VirtualList(props: VirtualListProps) {
  const { keys, renderRow, focusKey, followBottom, onScroll, canAnchor } = props;
  const estimate = props.estimatedHeight ?? 64;
  const fullOverscan = props.overscanPx ?? 600;

  const scroller = useRef<HTMLDivElement | null>(null);
  const inner = useRef<HTMLDivElement | null>(null);
  const heights = useRef(new Map<string, number>());
  const [heightsVersion, setHeightsVersion] = useState(0);
  // Null until the first layout effect has placed the view: nothing is rendered before
  // we know where the reader will be looking.
  const [viewport, setViewport] = useState<Viewport | null>(null);
  const [overscan, setOverscan] = useState(0);
  const anchor = useRef<Anchor | null>(null);
  // The anchor is the focused row, held until the reader scrolls.
  const focusPinned = useRef(false);
  const atBottom = useRef(true);
  const handledFocus = useRef<string | null | undefined>(undefined);
  // The scroll offset we last set, to tell our own scroll events from the reader's.
  const ownScrollTop = useRef<number | null>(null);
  const frame = useRef(0);

  const layout = useMemo(
    () => computeLayout(keys, heights.current, estimate),
    // heightsVersion: the map is mutated in place and this is its change signal.
    [keys, heightsVersion, estimate],
  );
  const layoutRef = useRef(layout);
  layoutRef.current = layout;
  const canAnchorRef = useRef(canAnchor);
  canAnchorRef.current = canAnchor;

  const captureAnchor = useCallback((l: Layout, scrollTop: number, clientHeight: number) => {
    atBottom.current = isAtBottom(l, scrollTop, clientHeight, BOTTOM_SLACK);
    anchor.current = pickAnchor(l, scrollTop, clientHeight, canAnchorRef.current);
  }, []);

  const report = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const total = layoutRef.current.total;
    onScroll?.({ fromTop: el.scrollTop, fromBottom: total - el.scrollTop - el.clientHeight });
  }, [onScroll]);

  const handleScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const own = ownScrollTop.current;
    if (own === null || Math.abs(el.scrollTop - own) >= 1) {
      // The reader scrolled: they now decide what stays still.
      ownScrollTop.current = null;
      focusPinned.current = false;
      captureAnchor(layoutRef.current, el.scrollTop, el.clientHeight);
    }
    if (frame.current) return;
    // One re-render per frame however many scroll events arrive.
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      const now = scroller.current;
      if (!now) return;
      setViewport((v) =>
        v && v.top === now.scrollTop && v.height === now.clientHeight ? v : { top: now.scrollTop, height: now.clientHeight },
      );
      report();
    });
  }, [captureAnchor, report]);

  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  // Measure rows as they render and whenever they change size (images, edits).
  const observer = useMemo(
    () =>
      typeof ResizeObserver === "undefined"
        ? null
        : new ResizeObserver((entries) => {
            let changed = false;
            for (const entry of entries) {
              const el = entry.target as HTMLElement;
              const key = el.dataset.key;
              if (key === undefined) continue;
              const h = entry.borderBoxSize?.[0]?.blockSize ?? el.getBoundingClientRect().height;
              if (h > 0 && Math.abs((heights.current.get(key) ?? -1) - h) > 0.5) {
                heights.current.set(key, h);
                changed = true;
              }
            }
            if (changed) setHeightsVersion((v) => v + 1);
          }),
    [],
  );
  useEffect(() => () => observer?.disconnect(), [observer]);
  const observed = useRef(new Set<Element>());

  // Track the viewport size too (phone rotation, panels opening).
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      setViewport((v) => (v ? { top: el.scrollTop, height: el.clientHeight } : v));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // The first paint renders only the rows on screen, which is what the reader waits
  // for; the rows just off screen follow once that frame is painted.
  const placed = viewport !== null;
  useEffect(() => {
    if (!placed) return;
    let timer = 0;
    const raf = requestAnimationFrame(() => {
      timer = window.setTimeout(() => setOverscan(fullOverscan), 0);
    });
    return () => {
      cancelAnimationFrame(raf);
      clearTimeout(timer);
    };
  }, [placed, fullOverscan]);

  // After every layout change: re-apply focus, bottom or anchor, then sync observation.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const height = el.clientHeight;
    let target: number | null = null;
    if (focusKey && handledFocus.current !== focusKey && layout.indexOf.has(focusKey)) {
      handledFocus.current = focusKey;
      focusPinned.current = true;
      anchor.current = { key: focusKey, offset: Math.round(height * FOCUS_FRACTION) };
      target = anchoredScrollTop(layout, anchor.current);
    } else if (focusPinned.current && anchor.current) {
      target = anchoredScrollTop(layout, anchor.current);
    } else if (viewport === null || (atBottom.current && followBottom)) {
      target = Math.max(0, layout.total - height);
    } else if (anchor.current) {
      target = anchoredScrollTop(layout, anchor.current);
    }
    if (target !== null && Math.abs(el.scrollTop - target) >= 1) {
      el.scrollTop = target;
      // Read back: the browser clamps to the scrollable range.
      ownScrollTop.current = el.scrollTop;
    }
    if (focusPinned.current) atBottom.current = false;
    else captureAnchor(layout, el.scrollTop, height);
    if (viewport === null || viewport.top !== el.scrollTop || viewport.height !== height) {
      setViewport({ top: el.scrollTop, height });
    }
    report();

    if (observer && inner.current) {
      const present = new Set<Element>(Array.from(inner.current.children));
      for (const child of present) if (!observed.current.has(child)) observer.observe(child);
      for (const old of observed.current) if (!present.has(old)) observer.unobserve(old);
      observed.current = present;
    }
  });

  const rows: VNode[] = [];
  if (viewport !== null) {
    const { start, end } = visibleRange(layout, viewport.top, viewport.height, overscan);
    for (let i = start; i <= end; i++) {
      const key = keys[i] as string;
      rows.push(
        <div
          key={key}
          data-key={key}
          class="vl-row"
          style={{ transform: `translateY(${layout.tops[i] as number}px)` }}
        >
          {renderRow(key)}
        </div>,
      );
    }
  }

  const setScroller = useCallback(
    (el: HTMLDivElement | null) => {
      scroller.current = el;
      props.scrollerRef?.(el);
    },
    [],
  );

  return (
    <div
      ref={setScroller}
      class={`vl-scroller ${props.className ?? ""}`}
      onScroll={handleScroll}
      data-testid={props.testId}
      aria-label={props.label}
      role="feed"
      tabIndex={0}
    >
      <div ref={inner} class="vl-inner" style={{ height: `${layout.total}px` }}>
        {rows}
      </div>
      {props.children}
    </div>
  );
}
