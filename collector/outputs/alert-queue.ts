/**
 * The bounded queue in front of each collector output.
 *
 * When it is full, the least important alert goes: the oldest of the least severe priority held,
 * or the arriving alert itself when everything held is more severe. Alerts come out in arrival
 * order, so that a file or SIEM sees them in time order.
 *
 * Layout: one ring buffer per priority (eight), each entry stamped with an arrival number. The
 * victim is the head of the least severe non-empty ring; the next alert out is the ring head with
 * the smallest stamp. Every operation is O(1) but for an eight-way comparison.
 */
import type { Alert } from '../../core/alert.js';
import { parsePriority, Priority, priorityNames } from '../../core/priority.js';

/** The priority of an alert; an alert with an unknown priority is treated as Debug. */
export function alertPriority(alert: Alert): Priority {
  // Alerts carry Falco's exact names; the lookup avoids parsing on the hot path of publish().
  const exact = Object.hasOwn(Priority, alert.priority) ? Priority[alert.priority] : undefined;
  if (exact !== undefined) return exact;
  return (typeof alert.priority === 'string' ? parsePriority(alert.priority) : undefined) ?? Priority.Debug;
}

/** A growable ring buffer; grows by doubling, never shrinks (its size is bounded by the queue's). */
class Ring<T> {
  private slots: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  push(item: T): void {
    if (this.count === this.slots.length) this.grow();
    this.slots[(this.head + this.count) % this.slots.length] = item;
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    // Clear the slot so that the alert can be collected once it has left.
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.slots.length;
    this.count--;
    return item;
  }

  private grow(): void {
    const bigger = new Array<T | undefined>(this.slots.length * 2);
    for (let i = 0; i < this.count; i++) bigger[i] = this.slots[(this.head + i) % this.slots.length];
    this.slots = bigger;
    this.head = 0;
  }
}

interface Entry {
  readonly seq: number;
  readonly alert: Alert;
}

/**
 * A bounded, priority-aware FIFO of alerts.
 *
 * @example
 * const q = new AlertQueue(10_000);
 * const dropped = q.push(alert); // undefined, or the alert that made room
 * const batch = q.take(100);
 */
export class AlertQueue {
  private readonly rings: Ring<Entry>[] = priorityNames().map(() => new Ring<Entry>());
  private count = 0;
  private seq = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`AlertQueue: capacity must be a positive integer, got ${String(capacity)}`);
    }
  }

  /** Alerts waiting. */
  get size(): number {
    return this.count;
  }

  /**
   * Queues `alert` and returns what had to be dropped to stay within capacity: undefined when
   * nothing was, otherwise the oldest alert of the least severe priority at or below `alert`'s —
   * or `alert` itself when every queued alert is more severe.
   */
  push(alert: Alert): Alert | undefined {
    const priority = alertPriority(alert);
    let dropped: Alert | undefined;
    if (this.count >= this.capacity) {
      const victims = this.leastSevereAtOrBelow(priority);
      if (victims === undefined) return alert;
      dropped = victims.shift()?.alert;
      this.count--;
    }
    this.rings[priority]?.push({ seq: this.seq++, alert });
    this.count++;
    return dropped;
  }

  /** Removes and returns up to `max` alerts in arrival order. */
  take(max: number): Alert[] {
    const out: Alert[] = [];
    while (out.length < max && this.count > 0) {
      let oldest: Ring<Entry> | undefined;
      let oldestSeq = Number.POSITIVE_INFINITY;
      for (const ring of this.rings) {
        const head = ring.peek();
        if (head !== undefined && head.seq < oldestSeq) {
          oldest = ring;
          oldestSeq = head.seq;
        }
      }
      const entry = oldest?.shift();
      if (entry === undefined) break;
      out.push(entry.alert);
      this.count--;
    }
    return out;
  }

  private leastSevereAtOrBelow(priority: Priority): Ring<Entry> | undefined {
    for (let p = this.rings.length - 1; p >= priority; p--) {
      const ring = this.rings[p];
      if (ring !== undefined && ring.size > 0) return ring;
    }
    return undefined;
  }
}
