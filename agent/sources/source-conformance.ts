/**
 * The conformance suite every {@link EventSource} runs: one set of cases, each source's test file
 * calls {@link describeSourceConformance} with a subject that knows how to make and feed that
 * source. It checks what the rest of the agent relies on whatever the source: a lifecycle that
 * is safe to call twice, counters that agree with what the sink saw, malformed input counted by
 * reason without stopping the source, `done()` for finite inputs, and silence after `stop()`.
 *
 * Also exports {@link RecordingSink}, a sink that keeps what it is given and lets a test wait
 * for a condition on it without sleeping.
 */
import assert from 'node:assert/strict';
import type { Event } from '../../core/event.js';
import type { EventSource, SourceSink } from './source.js';

/** One thing a sink was told, in order. */
export type SinkEntry =
  | { readonly kind: 'event'; readonly event: Event }
  | { readonly kind: 'malformed'; readonly reason: string; readonly detail: string | undefined }
  | {
      readonly kind: 'notice';
      readonly message: string;
      readonly fields: Readonly<Record<string, unknown>> | undefined;
    };

/**
 * A {@link SourceSink} that records everything, bounded by `limit` entries (events beyond it are
 * counted, not kept), and wakes waiters whose condition became true.
 */
export class RecordingSink implements SourceSink {
  readonly log: SinkEntry[] = [];
  readonly events: Event[] = [];
  readonly malformedByReason = new Map<string, number>();
  readonly notices: string[] = [];
  eventCount = 0;
  malformedCount = 0;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly limit = 100_000) {}

  event(evt: Event): void {
    this.eventCount++;
    if (this.log.length < this.limit) {
      this.events.push(evt);
      this.log.push({ kind: 'event', event: evt });
    }
    this.wake();
  }

  malformed(reason: string, detail?: string): void {
    this.malformedCount++;
    this.malformedByReason.set(reason, (this.malformedByReason.get(reason) ?? 0) + 1);
    if (this.log.length < this.limit) this.log.push({ kind: 'malformed', reason, detail });
    this.wake();
  }

  notice(message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.notices.push(message);
    if (this.log.length < this.limit) this.log.push({ kind: 'notice', message, fields });
    this.wake();
  }

  /** Malformed counts as a plain object, for deepEqual. */
  reasons(): Record<string, number> {
    return Object.fromEntries(this.malformedByReason);
  }

  /**
   * Resolves once `check()` holds (checked now and after every delivery); rejects after
   * `timeoutMs` with `what` in the message. The timeout only bounds a broken test: a passing
   * test is woken by the delivery itself.
   */
  waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `timed out waiting for ${what} (events ${this.eventCount}, malformed ${this.malformedCount})`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.check()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}

/** What one source's test tells the suite. */
export interface ConformanceSubject {
  /**
   * Makes a fresh source over fresh input, once per case. For a finite subject the input holds
   * exactly {@link expected}; for a followed one it starts empty and {@link feed} supplies it.
   */
  create(): EventSource | Promise<EventSource>;
  /** Whether `done()` resolves by itself at the end of the input. */
  readonly finite: boolean;
  /**
   * Makes a started source deliver {@link expected} (write to its socket, append to its file,
   * start a process). Required when not finite.
   */
  feed?(source: EventSource): Promise<void>;
  /** What reading all of the input delivers. */
  readonly expected: {
    readonly events: number;
    /** Malformed units by reason. */
    readonly malformed: Readonly<Record<string, number>>;
    /** When false, `events` is a minimum (a live system adds its own activity). Default true. */
    readonly exact?: boolean;
  };
  /** Whether valid events follow malformed ones in the input (default: when any are malformed). */
  readonly eventsAfterMalformed?: boolean;
  /** Releases what `create` made (files, sockets, processes); called after each case. */
  cleanup?(): Promise<void>;
}

/**
 * Registers the conformance cases for one source under `describe(title)`.
 *
 * @example
 *   describeSourceConformance('jsonl (file)', { create: () => ..., finite: true, expected: { ... } });
 */
export function describeSourceConformance(title: string, subject: ConformanceSubject): void {
  const exact = subject.expected.exact ?? true;
  const expectedMalformed = Object.values(subject.expected.malformed).reduce((a, b) => a + b, 0);

  /** Starts a source, feeds it, and waits until everything expected has arrived. */
  async function runToCompletion(source: EventSource, sink: RecordingSink): Promise<void> {
    await source.start(sink);
    if (subject.finite) {
      await source.done();
    } else {
      assert.ok(subject.feed !== undefined, 'a followed subject needs feed()');
      await subject.feed(source);
    }
    await sink.waitFor(
      () => sink.eventCount >= subject.expected.events && sink.malformedCount >= expectedMalformed,
      `${subject.expected.events} events and ${expectedMalformed} malformed`,
    );
  }

  describe(`${title}: source conformance`, function () {
    this.timeout(30_000);
    const made: EventSource[] = [];
    const make = async (): Promise<EventSource> => {
      const s = await subject.create();
      made.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of made.splice(0)) await s.stop();
      await subject.cleanup?.();
    });

    it('stop() before start() resolves, settles done(), and start() then rejects', async () => {
      const source = await make();
      await source.stop();
      await source.done();
      await assert.rejects(source.start(new RecordingSink()));
    });

    it('stop() is idempotent', async () => {
      const source = await make();
      await source.start(new RecordingSink());
      await Promise.all([source.stop(), source.stop()]);
      await source.stop();
      await source.done();
    });

    it('start() twice with the same sink starts once; another sink is refused', async () => {
      const source = await make();
      const sink = new RecordingSink();
      await Promise.all([source.start(sink), source.start(sink)]);
      await source.start(sink);
      await assert.rejects(source.start(new RecordingSink()), /another sink/);
      await (subject.finite ? source.done() : subject.feed!(source));
      await sink.waitFor(() => sink.eventCount >= subject.expected.events, 'the expected events');
      if (exact) assert.equal(sink.eventCount, subject.expected.events, 'no event delivered twice');
    });

    it('delivers every event once, as a fresh object, and counts it in stats()', async () => {
      const source = await make();
      const sink = new RecordingSink();
      await runToCompletion(source, sink);
      if (exact) assert.equal(sink.eventCount, subject.expected.events);
      else assert.ok(sink.eventCount >= subject.expected.events);
      const stats = source.stats();
      // A followed source may still be counting its next delivery; stats never run behind the sink.
      assert.ok(
        stats.events >= sink.eventCount,
        `stats.events ${stats.events} < delivered ${sink.eventCount}`,
      );
      if (subject.finite) assert.equal(stats.events, sink.eventCount);
      assert.equal(new Set(sink.events).size, sink.events.length, 'every event is its own object');
      assert.equal(
        new Set(sink.events.map((e) => e.fields)).size,
        sink.events.length,
        'fields are not shared',
      );
      for (const e of sink.events) assert.equal(typeof e.fields, 'object');
      assert.ok(stats.bytes > 0, 'bytes read are counted');
      assert.ok(stats.lagSeconds === undefined || stats.lagSeconds >= 0, 'lag is never negative');
    });

    it('counts malformed input by reason and keeps going', async () => {
      const source = await make();
      const sink = new RecordingSink();
      await runToCompletion(source, sink);
      assert.deepEqual(sink.reasons(), subject.expected.malformed);
      const stats = source.stats();
      assert.equal(stats.malformed, expectedMalformed);
      assert.deepEqual(stats.malformedByReason, subject.expected.malformed);
      if (subject.eventsAfterMalformed ?? expectedMalformed > 0) {
        const firstBad = sink.log.findIndex((e) => e.kind === 'malformed');
        const eventAfter = sink.log.findIndex((e, i) => i > firstBad && e.kind === 'event');
        assert.ok(firstBad >= 0 && eventAfter > firstBad, 'events after malformed input are still delivered');
      }
    });

    if (subject.finite) {
      it('done() resolves by itself at the end of the input', async () => {
        const source = await make();
        const sink = new RecordingSink();
        await source.start(sink);
        await source.done();
        assert.equal(sink.eventCount, subject.expected.events);
      });
    } else {
      it('done() stays pending while followed, and resolves on stop()', async () => {
        const source = await make();
        const sink = new RecordingSink();
        await runToCompletion(source, sink);
        let settled = false;
        const done = source.done().then(() => (settled = true));
        // Let every pending callback and I/O completion run once; done() must not have settled.
        await new Promise((r) => setImmediate(r));
        assert.equal(settled, false);
        await source.stop();
        await done;
        assert.equal(settled, true);
      });
    }

    it('delivers nothing after stop() resolves', async () => {
      const source = await make();
      const sink = new RecordingSink();
      await source.start(sink);
      await source.stop();
      const seen = sink.log.length;
      const stats = source.stats();
      if (subject.feed !== undefined) await subject.feed(source).catch(() => {});
      await new Promise((r) => setImmediate(r));
      assert.equal(sink.log.length, seen, 'the sink heard nothing after stop()');
      assert.equal(source.stats().events, stats.events, 'nothing more was counted after stop()');
    });
  });
}

/**
 * JSON lines that every JSON source must count as malformed and skip, one of each kind: garbage,
 * a record cut off mid-line, and valid JSON of the wrong type where an object belongs.
 */
export const MALFORMED_JSON_LINES: readonly string[] = [
  'this is not json at all',
  '{"evt.type":"openat","proc.name":"ca',
  '[1, 2, 3]',
  '42',
  '"a string"',
  'null',
];

/** The reasons {@link MALFORMED_JSON_LINES} are counted under. */
export const MALFORMED_JSON_REASONS: Readonly<Record<string, number>> = {
  'not-json': 1,
  truncated: 1,
  'bad-type': 4,
};

/**
 * A JSON-lines corpus: the malformed lines interleaved with `valid` ones, a bad line first so
 * that valid lines follow bad ones, and, when `oversizedBytes` is given, one line of that many
 * bytes. It holds exactly `valid.length` events.
 */
export function jsonCorpus(valid: readonly string[], oversizedBytes?: number): string {
  const bad = [...MALFORMED_JSON_LINES];
  if (oversizedBytes !== undefined) bad.push(`{"x":"${'y'.repeat(oversizedBytes)}"}`);
  const out: string[] = [];
  const n = Math.max(valid.length, bad.length);
  for (let i = 0; i < n; i++) {
    if (i < bad.length) out.push(bad[i]!);
    if (i < valid.length) out.push(valid[i]!);
  }
  return out.join('\n') + '\n';
}
