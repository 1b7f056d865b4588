/**
 * The messages of one room (or one thread) kept sorted by position.
 *
 * Events insert one message at a time and history pages arrive in ascending order, so
 * a binary-searched insert into parallel arrays keeps everything ordered without ever
 * re-sorting; lookups by id go through a map. The structure is mutable on purpose: in a
 * room with 10,000 loaded messages, copying it on every event would dominate. The store
 * wraps it in an immutable envelope whose `rev` changes whenever it does.
 */
import type { MessageView } from "./types";

interface Entry {
  message: MessageView;
  /** Seq of the last stream event that wrote this entry (0: written from REST). */
  seq: number;
}

export class MessageIndex {
  private readonly positions: number[] = [];
  private readonly order: string[] = [];
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.order.length;
  }

  /** Ids in ascending position order. Read-only view: do not mutate. */
  get ids(): readonly string[] {
    return this.order;
  }

  get(id: string): MessageView | undefined {
    return this.entries.get(id)?.message;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  first(): MessageView | undefined {
    const id = this.order[0];
    return id === undefined ? undefined : this.get(id);
  }

  last(): MessageView | undefined {
    const id = this.order[this.order.length - 1];
    return id === undefined ? undefined : this.get(id);
  }

  /** Index of the first entry whose position is >= `position`. */
  lowerBound(position: number): number {
    let lo = 0;
    let hi = this.positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.positions[mid] as number) < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Insert or replace a message. With `seq` from a stream event the entry remembers it;
   * a REST result fetched when the stream was at `seq` does not overwrite an entry that a
   * later event already wrote (the REST answer may predate that event).
   *
   * @returns whether anything changed.
   */
  upsert(message: MessageView, seq: number, fromRest = false): boolean {
    const existing = this.entries.get(message.id);
    if (existing) {
      if (fromRest && existing.seq > seq) return false;
      this.entries.set(message.id, { message, seq: Math.max(seq, existing.seq) });
      return existing.message !== message;
    }
    this.entries.set(message.id, { message, seq });
    const last = this.positions[this.positions.length - 1];
    if (last === undefined || message.position > last) {
      // The common case: a new message at the end.
      this.positions.push(message.position);
      this.order.push(message.id);
    } else {
      const at = this.lowerBound(message.position);
      this.positions.splice(at, 0, message.position);
      this.order.splice(at, 0, message.id);
    }
    return true;
  }

  /** Merge an ascending page (history) in one pass when it lies wholly before or after. */
  merge(page: readonly MessageView[], seqAtRequest: number): boolean {
    const firstNew = page[0];
    const lastNew = page[page.length - 1];
    const firstHave = this.positions[0];
    if (
      firstNew &&
      lastNew &&
      firstHave !== undefined &&
      lastNew.position < firstHave &&
      page.every((m) => !this.entries.has(m.id))
    ) {
      // Prepending an older page: one splice instead of one per message.
      this.positions.splice(0, 0, ...page.map((m) => m.position));
      this.order.splice(0, 0, ...page.map((m) => m.id));
      for (const m of page) this.entries.set(m.id, { message: m, seq: 0 });
      return true;
    }
    let changed = false;
    for (const m of page) changed = this.upsert(m, seqAtRequest, true) || changed;
    return changed;
  }

  clear(): void {
    this.positions.length = 0;
    this.order.length = 0;
    this.entries.clear();
  }
}
