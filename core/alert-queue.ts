/**
 * A bounded in-memory queue of alerts that, when full, drops the least important alert — the
 * same policy as the spool: lowest priority first, oldest first within a priority, and an
 * arriving alert that is less important than everything queued is the one dropped. Alerts come
 * out in arrival order.
 *
 * One FIFO per priority keeps every operation O(1) (taking is O(8)): the victim is the head of
 * the least important non-empty FIFO, and the next alert out is the FIFO head with the smallest
 * arrival number.
 */
import type { Alert } from './alert.js';
import { parsePriority, Priority } from './priority.js';

const LEVELS = 8;

interface Entry {
  readonly order: number;
  readonly alert: Alert;
}

/** A FIFO over an array with a moving head, compacted once the dead prefix dominates. */
class Fifo {
  private items: Entry[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  peek(): Entry | undefined {
    return this.items[this.head];
  }

  push(entry: Entry): void {
    this.items.push(entry);
  }

  shift(): Entry | undefined {
    const entry = this.items[this.head];
    if (entry === undefined) return undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return entry;
  }
}

/** The priority rank of an alert; an unknown priority counts as the least important (Debug). */
export function alertRank(alert: Alert): Priority {
  return (typeof alert.priority === 'string' ? parsePriority(alert.priority) : undefined) ?? Priority.Debug;
}

/**
 * A bounded, priority-aware FIFO of alerts.
 *
 * @example
 * const q = new AlertQueue(1000);
 * const dropped = q.push(alert); // undefined, or the alert that had to go
 * const batch = q.take(100);
 */
export class AlertQueue {
  private readonly fifos: Fifo[] = Array.from({ length: LEVELS }, () => new Fifo());
  private count = 0;
  private nextOrder = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) {
      throw new RangeError(`AlertQueue capacity must be a positive integer, got ${String(capacity)}`);
    }
  }

  /** Alerts waiting. */
  get size(): number {
    return this.count;
  }

  /**
   * Queues `alert`. When the queue is full, returns the alert dropped to respect the bound: the
   * oldest of the least important priority held, if that is no more important than `alert`;
   * otherwise `alert` itself. Returns undefined when nothing was dropped.
   */
  push(alert: Alert): Alert | undefined {
    const rank = alertRank(alert);
    let dropped: Alert | undefined;
    if (this.count >= this.capacity) {
      const victim = this.leastImportantFrom(rank);
      if (victim === undefined) return alert;
      dropped = victim.shift()?.alert;
      this.count--;
    }
    this.fifos[rank]?.push({ order: this.nextOrder++, alert });
    this.count++;
    return dropped;
  }

  /** Removes and returns up to `max` alerts, oldest first. */
  take(max: number): Alert[] {
    const out: Alert[] = [];
    while (out.length < max && this.count > 0) {
      let best: Fifo | undefined;
      let bestOrder = Number.POSITIVE_INFINITY;
      for (const fifo of this.fifos) {
        const head = fifo.peek();
        if (head !== undefined && head.order < bestOrder) {
          best = fifo;
          bestOrder = head.order;
        }
      }
      const entry = best?.shift();
      if (entry === undefined) break;
      out.push(entry.alert);
      this.count--;
    }
    return out;
  }

  /** The least important non-empty FIFO at `rank` or below, if any. */
  private leastImportantFrom(rank: number): Fifo | undefined {
    for (let r = LEVELS - 1; r >= rank; r--) {
      const fifo = this.fifos[r];
      if (fifo !== undefined && fifo.size > 0) return fifo;
    }
    return undefined;
  }
}
