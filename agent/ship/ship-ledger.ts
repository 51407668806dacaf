/**
 * The shipper's bookkeeping between the spool and one stream: which spooled alerts went out in
 * which batch, and which batches await their Ack.
 *
 * - `take` reads the alerts after the last one sent (a cursor in the spool's sequence), builds
 *   a batch within the collector's limits, and remembers it as in flight. At most
 *   `maxInFlight` batches are in flight.
 * - `acknowledge(batchId)` deletes exactly that batch's alerts from the spool. Acks may come in
 *   any order, and alerts of other batches in flight — older or newer — stay: a batch is
 *   deleted by its ids, except the oldest batch in flight, for which "everything up to its last
 *   seq" is the same set and a cheaper delete. ("Up to seq N" for any other batch would take an
 *   older, unanswered batch with it.)
 * - `rewind()` forgets the batches in flight (their stream is gone, so are their Acks) and moves
 *   the cursor back to the oldest alert held: everything unacknowledged goes out again. The
 *   collector stores by id, so a batch it had already stored costs a duplicate, not a copy.
 *
 * A batch is marked `resent` when it may hold alerts a collector saw before: those at or below
 * the highest seq ever sent, which at start-up is the spool's last seq (an earlier run of the
 * agent may have sent anything it holds).
 */
import type { Alert } from '../../core/alert.js';
import type { AlertBatch } from '../../proto/link-messages.js';
import type { Spool } from '../spool/spool.js';

/** Bounds of one batch. */
export interface BatchLimits {
  /** Most alerts in a batch. */
  readonly maxAlerts: number;
  /** Most bytes of the encoded message. */
  readonly maxBytes: number;
}

/** What {@link ShipLedger.take} produced. */
export type TakeResult =
  /** A batch to write: `encoded` is the whole message, within `maxBytes`. */
  | { readonly type: 'batch'; readonly batch: AlertBatch; readonly encoded: Buffer }
  /** Nothing to send: the spool has nothing new, or the window of batches in flight is full. */
  | { readonly type: 'idle' }
  /**
   * One alert whose message alone exceeds `maxBytes`: it can never be delivered, and was deleted
   * from the spool so that it does not block the ones behind it. The caller logs and counts it.
   */
  | { readonly type: 'undeliverable'; readonly alert: Alert; readonly bytes: number };

/** What an Ack settled. */
export interface Settled {
  /** Alerts in the batch. */
  readonly alerts: number;
  /** Of them, deleted from the spool now (fewer when the spool evicted some meanwhile). */
  readonly deleted: number;
  /** When the batch was sent (the ledger's clock). */
  readonly sentAtMs: number;
}

interface InFlight {
  readonly ids: readonly string[];
  readonly lastSeq: number;
  readonly sentAtMs: number;
}

/** Options of {@link ShipLedger}. */
export interface ShipLedgerOptions {
  /** Most batches awaiting an Ack. */
  readonly maxInFlight: number;
  /** The clock for {@link Settled.sentAtMs}, ms. */
  readonly now: () => number;
}

/** See the module comment. Not thread-safe by design: one stream at a time uses it. */
export class ShipLedger {
  private readonly inFlight = new Map<number, InFlight>();
  /** The seq of the last alert taken on this stream. */
  private cursor = 0;
  /** The highest seq ever taken by this process, or present at start-up. */
  private sentThrough: number;
  private nextBatchId = 1;

  constructor(
    private readonly spool: Spool,
    private readonly options: ShipLedgerOptions,
  ) {
    if (!Number.isSafeInteger(options.maxInFlight) || options.maxInFlight <= 0) {
      throw new Error(`ship ledger: maxInFlight must be a positive integer, got ${options.maxInFlight}`);
    }
    this.sentThrough = spool.stats().lastSeq;
  }

  /** Batches awaiting an Ack. */
  get batchesInFlight(): number {
    return this.inFlight.size;
  }

  /** Alerts awaiting an Ack. */
  get alertsInFlight(): number {
    let n = 0;
    for (const b of this.inFlight.values()) n += b.ids.length;
    return n;
  }

  /**
   * The next batch to send, encoded by `encode` and within `limits`; see {@link TakeResult}.
   * The spool's JSON size preselects the alerts, then the encoded size decides: a batch over
   * the limit is halved until it fits.
   */
  take(limits: BatchLimits, encode: (batch: AlertBatch) => Buffer): TakeResult {
    if (this.inFlight.size >= this.options.maxInFlight) return { type: 'idle' };
    const page = this.spool.peek({
      limit: limits.maxAlerts,
      afterSeq: this.cursor,
      maxBytes: limits.maxBytes,
    });
    if (page.length === 0) return { type: 'idle' };
    let n = page.length;
    for (;;) {
      const slice = page.slice(0, n);
      const first = slice[0]!;
      const last = slice[n - 1]!;
      const batch: AlertBatch = {
        batchId: this.nextBatchId,
        alerts: slice.map((s) => s.alert),
        resent: first.seq <= this.sentThrough,
      };
      const encoded = encode(batch);
      if (encoded.length <= limits.maxBytes) {
        this.nextBatchId++;
        this.cursor = last.seq;
        this.sentThrough = Math.max(this.sentThrough, last.seq);
        this.inFlight.set(batch.batchId, {
          ids: batch.alerts.map((a) => a.id),
          lastSeq: last.seq,
          sentAtMs: this.options.now(),
        });
        return { type: 'batch', batch, encoded };
      }
      if (n === 1) {
        this.spool.ack([first.alert.id]);
        this.cursor = first.seq;
        return { type: 'undeliverable', alert: first.alert, bytes: encoded.length };
      }
      n = Math.ceil(n / 2);
    }
  }

  /**
   * Settles the batch `batchId`: deletes its alerts from the spool. Undefined when no such
   * batch is in flight (an Ack for another stream, or a second Ack).
   */
  acknowledge(batchId: number): Settled | undefined {
    const entry = this.inFlight.get(batchId);
    if (entry === undefined) return undefined;
    // The oldest batch in flight (Map order is batch order) may go by range, which is cheaper:
    // every alert at or below its last seq was taken on this stream (the cursor started at 0
    // and moved without gaps), and all those of earlier batches are deleted already. Alerts
    // appended since have higher seqs. Any other batch goes by its ids.
    const oldest = this.inFlight.keys().next().value === batchId;
    const deleted = oldest ? this.spool.ackThrough(entry.lastSeq) : this.spool.ack(entry.ids);
    this.inFlight.delete(batchId);
    return { alerts: entry.ids.length, deleted, sentAtMs: entry.sentAtMs };
  }

  /** Forgets the batches in flight and starts again from the oldest alert. Returns how many alerts were unacknowledged. */
  rewind(): number {
    const unacked = this.alertsInFlight;
    this.inFlight.clear();
    this.cursor = 0;
    return unacked;
  }
}
