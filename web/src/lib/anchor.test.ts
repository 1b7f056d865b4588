import { describe, expect, it } from "vitest";

import { anchoredScrollTop, computeLayout, isAtBottom, pickAnchor, rowAt, visibleRange } from "./anchor";

const HEADER = "header";
const notHeader = (key: string) => key !== HEADER;
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

describe("layout", () => {
  it("uses measured heights where known and the estimate elsewhere", () => {
    const layout = computeLayout(["a", "b", "c"], new Map([["b", 100]]), 50);
    expect(Array.from(layout.tops)).toEqual([0, 50, 150, 200]);
    expect(layout.total).toBe(200);
    expect(layout.indexOf.get("c")).toBe(2);
  });

  it("finds the row containing an offset", () => {
    const layout = computeLayout(["a", "b", "c"], new Map(), 50);
    expect(rowAt(layout, 0)).toBe(0);
    expect(rowAt(layout, 49)).toBe(0);
    expect(rowAt(layout, 50)).toBe(1);
    expect(rowAt(layout, 10_000)).toBe(2);
    expect(rowAt(computeLayout([], new Map(), 50), 10)).toBe(0);
  });

  it("renders the viewport plus the overscan", () => {
    const layout = computeLayout(ids(0, 100), new Map(), 10);
    expect(visibleRange(layout, 200, 100, 0)).toEqual({ start: 20, end: 30 });
    expect(visibleRange(layout, 200, 100, 50)).toEqual({ start: 15, end: 35 });
    expect(visibleRange(layout, 0, 100, 50)).toEqual({ start: 0, end: 15 });
    expect(visibleRange(computeLayout([], new Map(), 10), 0, 100, 50)).toEqual({ start: 0, end: -1 });
  });
});

describe("anchoring", () => {
  it("keeps the top message in place when an older page is prepended at scrollTop 0", () => {
    const heights = new Map<string, number>([[HEADER, 40]]);
    const before = computeLayout([HEADER, ...ids(100, 200)], heights, 60);
    const anchor = pickAnchor(before, 0, 800, notHeader);
    // The header is on screen but doesn't move when rows are inserted under it.
    expect(anchor).toEqual({ key: "m100", offset: 40 });

    const after = computeLayout([HEADER, ...ids(0, 200)], heights, 60);
    const top = anchoredScrollTop(after, anchor!);
    expect(top).toBe(100 * 60);
    // m100 is 40px from the top of the viewport again, far from the top of the content.
    expect((after.tops[after.indexOf.get("m100")!] as number) - top!).toBe(40);
  });

  it("would stay at the top (the bug) if the header could anchor", () => {
    const before = computeLayout([HEADER, ...ids(100, 200)], new Map(), 60);
    const anchor = pickAnchor(before, 0, 800);
    const after = computeLayout([HEADER, ...ids(0, 200)], new Map(), 60);
    expect(anchoredScrollTop(after, anchor!)).toBe(0);
  });

  it("corrects for measured heights above the anchor", () => {
    const heights = new Map<string, number>();
    const keys = [HEADER, ...ids(0, 50)];
    const estimated = computeLayout(keys, heights, 60);
    const anchor = pickAnchor(estimated, 1230, 600, notHeader)!;
    // Row 20 (m19) spans 1200..1260, cut by the top edge: the first row starting on screen holds.
    expect(anchor).toEqual({ key: "m20", offset: 30 });
    // Rows just above were rendered and turned out taller than the estimate.
    for (const key of ids(10, 19)) heights.set(key, 90);
    const measured = computeLayout(keys, heights, 60);
    expect(anchoredScrollTop(measured, anchor)).toBe(1230 + 9 * 30);
  });

  it("prefers a row starting on screen to the one cut by the top edge", () => {
    // m1 was just prepended above m2 and its height is still an estimate.
    const heights = new Map([["m2", 100]]);
    const estimated = computeLayout(ids(0, 10), heights, 100);
    const anchor = pickAnchor(estimated, 150, 300)!;
    expect(anchor).toEqual({ key: "m2", offset: 50 });
    heights.set("m1", 80);
    const measured = computeLayout(ids(0, 10), heights, 100);
    // The view follows m1's correction, so m2 stays 50px down the viewport.
    expect(anchoredScrollTop(measured, anchor)).toBe(130);
  });

  it("holds a row taller than the viewport by a negative offset", () => {
    const layout = computeLayout(ids(0, 10), new Map([["m2", 1000]]), 100);
    expect(pickAnchor(layout, 250, 300)).toEqual({ key: "m2", offset: -50 });
  });

  it("falls back to the first row when no row on screen may anchor", () => {
    const layout = computeLayout([HEADER], new Map(), 100);
    expect(pickAnchor(layout, 0, 500, notHeader)).toEqual({ key: HEADER, offset: 0 });
    expect(pickAnchor(computeLayout([], new Map(), 100), 0, 500)).toBeNull();
  });

  it("gives up on a row that is gone", () => {
    const layout = computeLayout(ids(0, 3), new Map(), 100);
    expect(anchoredScrollTop(layout, { key: "m9", offset: 0 })).toBeNull();
    expect(anchoredScrollTop(layout, { key: "m0", offset: 50 })).toBe(0);
  });

  it("knows when the reader is at the bottom", () => {
    const layout = computeLayout(ids(0, 10), new Map(), 100);
    expect(isAtBottom(layout, 500, 500, 8)).toBe(true);
    expect(isAtBottom(layout, 493, 500, 8)).toBe(true);
    expect(isAtBottom(layout, 400, 500, 8)).toBe(false);
  });
});
