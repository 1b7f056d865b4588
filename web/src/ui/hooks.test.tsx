import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { useManagedList, type ManagedList } from "./hooks";

interface Row {
  id: string;
  name: string;
}

let root: HTMLDivElement;
let list: ManagedList<Row>;
let server: Row[];
let loads: number;
let failLoad: boolean;

function load(): Promise<Row[]> {
  loads += 1;
  return failLoad ? Promise.reject(new Error("down")) : Promise.resolve([...server]);
}

function Harness() {
  list = useManagedList(load);
  return null;
}

/** Let the promises settle and Preact render. */
const settle = () => act(async () => void (await new Promise((r) => setTimeout(r, 0))));

beforeEach(async () => {
  server = [{ id: "1", name: "one" }];
  loads = 0;
  failLoad = false;
  root = document.createElement("div");
  act(() => render(<Harness />, root));
  await settle();
});

afterEach(() => {
  act(() => render(null, root));
});

describe("useManagedList", () => {
  it("loads once on mount", () => {
    expect(loads).toBe(1);
    expect(list.items).toEqual([{ id: "1", name: "one" }]);
    expect(list.error).toBeNull();
  });

  it("shows what an action returns and loads the list again", async () => {
    server.push({ id: "2", name: "two" });
    await act(() => list.act(async () => "added"));
    await settle();
    expect(list.notice).toBe("added");
    expect(list.items?.map((r) => r.id)).toEqual(["1", "2"]);
    expect(loads).toBe(2);
  });

  it("keeps a failed action's error on screen after the reload", async () => {
    await act(() =>
      list.act(async () => {
        throw new Error("nope");
      }),
    );
    await settle();
    expect(list.error).toBe("Something went wrong.");
    expect(list.notice).toBeNull();
    expect(loads).toBe(2);
  });

  it("clears the last notice and error when the next action starts", async () => {
    await act(() => list.act(async () => "first"));
    await settle();
    await act(() => list.act(async () => undefined, { reload: false }));
    await settle();
    expect(list.notice).toBeNull();
    expect(loads).toBe(2);
  });

  it("a load that works clears a failed load's error", async () => {
    failLoad = true;
    await act(() => list.reload());
    expect(list.error).toBe("Something went wrong.");
    failLoad = false;
    await act(() => list.reload());
    expect(list.error).toBeNull();
  });

  it("puts a row in place, or adds it first or last", async () => {
    act(() => list.put({ id: "1", name: "uno" }));
    act(() => list.put({ id: "2", name: "two" }));
    act(() => list.put({ id: "0", name: "zero" }, "first"));
    expect(list.items).toEqual([
      { id: "0", name: "zero" },
      { id: "1", name: "uno" },
      { id: "2", name: "two" },
    ]);
  });
});
