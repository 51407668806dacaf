import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { Priority, type PriorityName } from '../../core/priority.js';
import { sendFailure, sendSuccess, type CollectorOutput, type SendOutcome } from './collector-output.js';
import {
  closedPort,
  ManualClock,
  sampleAlert,
  startHttpReceiver,
  startSilentServer,
  waitFor,
} from './output-fixtures.test.js';
import { createOutputRouter } from './output-router.js';
import { withRetry, type RetryPolicy } from './retrying-output.js';
import { createWebhookOutput } from './webhook-output.js';

/** An output whose sends wait until the test releases them. */
class GatedOutput implements CollectorOutput {
  readonly type = 'webhook';
  readonly maxBatch: number;
  readonly batches: Alert[][] = [];
  closed = false;
  private gates: ((o: SendOutcome) => void)[] = [];

  constructor(
    readonly name: string,
    readonly queueSize: number,
    readonly minPriority: Priority = Priority.Debug,
    maxBatch = 1,
  ) {
    this.maxBatch = maxBatch;
  }

  get waiting(): number {
    return this.gates.length;
  }

  send(batch: readonly Alert[], signal?: AbortSignal): Promise<SendOutcome> {
    this.batches.push([...batch]);
    return new Promise((resolve) => {
      this.gates.push(resolve);
      signal?.addEventListener('abort', () => resolve(sendFailure(new Error('aborted'))), { once: true });
    });
  }

  release(outcome: SendOutcome = sendSuccess()): void {
    const gate = this.gates.shift();
    assert.ok(gate !== undefined, 'nothing to release');
    gate(outcome);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function logSink(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    now: Date.now,
  });
  return { lines, logger };
}

const warnings = (lines: Record<string, unknown>[]): Record<string, unknown>[] =>
  lines.filter((l) => l['level'] === 'warn');

describe('output router', function () {
  this.timeout(60_000);

  it('drops the least important alert when a queue is full, counting drops by output and priority', async () => {
    const stuck = new GatedOutput('stuck', 3);
    const metrics = new Registry();
    const { logger } = logSink();
    const router = createOutputRouter({ outputs: [stuck], metrics, logger, clock: new ManualClock() });
    const order: PriorityName[] = [
      'Notice',
      'Critical',
      'Debug',
      'Warning',
      'Debug',
      'Error',
      'Emergency',
      'Debug',
    ];
    // The first alert goes straight into flight, leaving three places in the queue.
    router.publish([sampleAlert(0, 'Informational')]);
    await waitFor(() => stuck.waiting === 1);
    router.publish(order.map((p, i) => sampleAlert(i + 1, p)));
    const status = router.status()[0];
    assert.ok(status !== undefined);
    assert.equal(status.queued, 3);
    assert.deepEqual(
      Object.entries(status.droppedByPriority).filter(([, n]) => n > 0),
      [
        ['Warning', 1],
        ['Notice', 1],
        ['Debug', 3],
      ],
    );
    const text = await metrics.metrics();
    assert.match(text, /vigil_collector_output_dropped_alerts_total\{output="stuck",priority="Debug"\} 3/);
    assert.match(text, /vigil_collector_output_alerts_total\{output="stuck",result="dropped"\} 5/);
    assert.match(text, /vigil_collector_output_queue_depth\{output="stuck"\} 3/);
    // What is left goes out in arrival order: Critical, Error, Emergency.
    for (let i = 0; i < 4; i++) {
      await waitFor(() => stuck.waiting === 1);
      stuck.release();
    }
    await router.flush();
    assert.deepEqual(
      stuck.batches.map((b) => b[0]?.priority),
      ['Informational', 'Critical', 'Error', 'Emergency'],
    );
    await router.close();
  });

  it('logs one aggregated warning per interval, however many alerts are dropped', async () => {
    const clock = new ManualClock();
    const a = new GatedOutput('a', 1);
    const b = new GatedOutput('b', 1);
    const { lines, logger } = logSink();
    const router = createOutputRouter({
      outputs: [a, b],
      metrics: new Registry(),
      logger,
      clock,
      warnIntervalMs: 60_000,
    });
    router.publish([sampleAlert(0)]);
    await waitFor(() => a.waiting === 1 && b.waiting === 1);
    router.publish(
      Array.from({ length: 100 }, (_, i) => sampleAlert(i + 1, i % 2 === 0 ? 'Debug' : 'Warning')),
    );
    assert.equal(warnings(lines).length, 1, 'the first drop is reported at once');
    await clock.advance(30_000);
    router.publish(Array.from({ length: 50 }, (_, i) => sampleAlert(200 + i, 'Debug')));
    assert.equal(warnings(lines).length, 1, 'nothing more within the interval');
    await clock.advance(30_000);
    assert.equal(warnings(lines).length, 2, 'one more at the end of the interval, with the sum');
    const second = warnings(lines)[1] as {
      dropped: number;
      outputs: Record<string, { dropped: Record<string, number> }>;
    };
    const firstDropped = (warnings(lines)[0] as { dropped: number }).dropped;
    assert.equal(
      firstDropped + second.dropped,
      2 * 149,
      'every drop of both outputs is in one warning or the other',
    );
    assert.ok(second.outputs['a'] !== undefined && second.outputs['b'] !== undefined);
    await clock.advance(120_000);
    assert.equal(warnings(lines).length, 2, 'no warning when nothing happened');
    // Closing waits on the clock for stuck outputs: move it past both grace periods.
    const closing = router.close();
    await clock.advance(10_000);
    await clock.advance(10_000);
    await closing;
    assert.ok(a.closed && b.closed);
  });

  it('counts a failed delivery, keeps going, and never lets a throwing output stop the others', async () => {
    let calls = 0;
    const throwing: CollectorOutput = {
      name: 'bad',
      type: 'webhook',
      minPriority: Priority.Debug,
      queueSize: 10,
      maxBatch: 1,
      send: () => {
        calls++;
        throw new Error('bug in an output');
      },
      close: () => Promise.resolve(),
    };
    const good = new GatedOutput('good', 10, Priority.Debug, 10);
    const metrics = new Registry();
    const { lines, logger } = logSink();
    const router = createOutputRouter({ outputs: [throwing, good], metrics, logger });
    assert.doesNotThrow(() => router.publish([sampleAlert(1), sampleAlert(2)]));
    await waitFor(() => good.waiting === 1);
    good.release();
    await router.flush();
    assert.equal(calls, 2);
    const [bad, fine] = router.status();
    assert.equal(bad?.failed, 2);
    assert.match(bad?.lastError ?? '', /output bad threw while sending: bug in an output/);
    assert.equal(fine?.delivered, 2);
    assert.match(
      await metrics.metrics(),
      /vigil_collector_output_alerts_total\{output="bad",result="failure"\} 2/,
    );
    assert.equal(warnings(lines).length, 1);
    await router.close();
  });

  it('on close, drains what it can, aborts what is stuck, counts the rest as dropped and closes every output', async () => {
    const stuck = new GatedOutput('stuck', 10);
    const { logger } = logSink();
    const router = createOutputRouter({
      outputs: [stuck],
      metrics: new Registry(),
      logger,
      closeTimeoutMs: 100,
    });
    router.publish([sampleAlert(1), sampleAlert(2), sampleAlert(3)]);
    await waitFor(() => stuck.waiting === 1);
    const started = Date.now();
    await router.close();
    assert.ok(Date.now() - started < 1000);
    assert.ok(stuck.closed);
    const s = router.status()[0];
    assert.equal(s?.failed, 1, 'the aborted batch');
    assert.equal(s?.dropped, 2, 'the queued ones');
    router.publish([sampleAlert(4)]);
    assert.equal(router.status()[0]?.dropped, 3, 'after close, alerts are counted as dropped');
  });

  it('closes in at most two grace periods even beside an output that ignores the abort', async () => {
    const deaf: CollectorOutput = {
      name: 'deaf',
      type: 'webhook',
      minPriority: Priority.Debug,
      queueSize: 10,
      maxBatch: 1,
      send: () => new Promise<SendOutcome>(() => undefined),
      close: () => Promise.resolve(),
    };
    const stuck = new GatedOutput('stuck', 10);
    const { logger } = logSink();
    const router = createOutputRouter({
      outputs: [deaf, stuck],
      metrics: new Registry(),
      logger,
      closeTimeoutMs: 100,
    });
    router.publish([sampleAlert(1), sampleAlert(2), sampleAlert(3)]);
    await waitFor(() => stuck.waiting === 1);
    const started = Date.now();
    await router.close();
    const took = Date.now() - started;
    assert.ok(took >= 190 && took < 1000, `close took ${took} ms`);
    assert.deepEqual(
      router.status().map((s) => [s.name, s.dropped]),
      [
        ['deaf', 2],
        ['stuck', 2],
      ],
    );
    assert.ok(stuck.closed);
  });

  it('refuses two outputs with one name', () => {
    const { logger } = logSink();
    assert.throws(
      () =>
        createOutputRouter({
          outputs: [new GatedOutput('x', 1), new GatedOutput('x', 1)],
          metrics: new Registry(),
          logger,
        }),
      /two outputs are named x/,
    );
  });

  it('lets neither a refused nor a silent output slow publish() or a healthy output (measured)', async () => {
    const retry: RetryPolicy = {
      maxAttempts: 10,
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      deadlineMs: 10_000,
      jitter: 0.5,
    };
    const settings = (name: string, queueSize: number) => ({ name, minPriority: Priority.Debug, queueSize });
    const alerts = Array.from({ length: 20_000 }, (_, i) =>
      sampleAlert(i, i % 3 === 0 ? 'Critical' : 'Debug'),
    );

    /** Publishes everything in bursts of 100; returns the worst and total publish() time and the delivery time. */
    async function run(withDead: boolean): Promise<{
      worstMs: number;
      totalMs: number;
      deliveredMs: number;
      router: ReturnType<typeof createOutputRouter>;
      cleanup: () => Promise<void>;
    }> {
      const receiver = await startHttpReceiver();
      const silent = await startSilentServer();
      const refused = await closedPort();
      const outputs: CollectorOutput[] = [
        withRetry(
          createWebhookOutput(settings('healthy', 50_000), {
            url: new URL(receiver.url),
            mode: 'batch',
            batchSize: 500,
            method: 'POST',
            headers: {},
            timeoutMs: 5000,
          }),
          retry,
        ),
      ];
      if (withDead) {
        outputs.push(
          withRetry(
            createWebhookOutput(settings('refused', 1000), {
              url: new URL(`http://127.0.0.1:${refused}/`),
              mode: 'single',
              batchSize: 1,
              method: 'POST',
              headers: {},
              timeoutMs: 5000,
            }),
            retry,
          ),
          withRetry(
            createWebhookOutput(settings('silent', 1000), {
              url: new URL(`http://127.0.0.1:${silent.port}/`),
              mode: 'single',
              batchSize: 1,
              method: 'POST',
              headers: {},
              timeoutMs: 5000,
            }),
            retry,
          ),
        );
      }
      const { logger } = logSink();
      const router = createOutputRouter({ outputs, metrics: new Registry(), logger, closeTimeoutMs: 200 });
      let worstMs = 0;
      let totalMs = 0;
      const started = performance.now();
      for (let i = 0; i < alerts.length; i += 100) {
        const t = performance.now();
        router.publish(alerts.slice(i, i + 100));
        const took = performance.now() - t;
        worstMs = Math.max(worstMs, took);
        totalMs += took;
        // Let the event loop turn between bursts, as ingest would.
        await new Promise((r) => setImmediate(r));
      }
      const count = (): number =>
        receiver.requests.reduce((n, r) => n + (JSON.parse(r.body) as unknown[]).length, 0);
      await waitFor(() => count() === alerts.length, 30_000, 'the healthy output to get everything');
      const deliveredMs = performance.now() - started;
      return {
        worstMs,
        totalMs,
        deliveredMs,
        router,
        cleanup: async () => {
          await router.close();
          await receiver.close();
          await silent.close();
        },
      };
    }

    const alone = await run(false);
    await alone.cleanup();
    const beside = await run(true);
    const status = Object.fromEntries(beside.router.status().map((s) => [s.name, s]));
    await beside.cleanup();

    console.log(
      `      20,000 alerts in bursts of 100: healthy alone delivered in ${alone.deliveredMs.toFixed(0)} ms ` +
        `(publish total ${alone.totalMs.toFixed(1)} ms, worst ${alone.worstMs.toFixed(2)} ms); beside a refused and a silent ` +
        `output delivered in ${beside.deliveredMs.toFixed(0)} ms (publish total ${beside.totalMs.toFixed(1)} ms, worst ${beside.worstMs.toFixed(2)} ms); ` +
        `dropped refused=${status['refused']?.dropped} silent=${status['silent']?.dropped}`,
    );
    assert.equal(status['healthy']?.dropped, 0);
    assert.ok(beside.worstMs < 25, `one publish() of 100 alerts took ${beside.worstMs.toFixed(2)} ms`);
    assert.ok(beside.totalMs < 500, `publish() took ${beside.totalMs.toFixed(1)} ms in total`);
    assert.ok(
      beside.deliveredMs < alone.deliveredMs * 2 + 1000,
      `healthy output took ${beside.deliveredMs.toFixed(0)} ms beside dead ones, ${alone.deliveredMs.toFixed(0)} ms alone`,
    );
    // The dead outputs' bounded queues filled and shed the excess (Debug first).
    for (const name of ['refused', 'silent']) {
      const s = status[name];
      assert.ok(s !== undefined && s.dropped >= alerts.length - 1000 - 2, `${name} dropped ${s?.dropped}`);
      assert.ok((s.droppedByPriority.Debug ?? 0) > (s.droppedByPriority.Critical ?? 0));
      assert.equal(s.delivered, 0);
    }
  });
});
