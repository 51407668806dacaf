/**
 * The conformance suite every collector output runs, against a real receiver: one set of
 * expectations, one call per output's test file. An output passes when what its receiver got,
 * decoded back, is each alert sent — id, rule, priority and output text intact, special
 * characters included — and when it keeps the interface's promises: outcomes are values, empty
 * batches are no-ops, closed outputs refuse politely, an unreachable target is `retryable` (or
 * `failure`) within its timeout, and the router's minimum priority filters it. (Named `.test.ts`
 * so that it stays test code; it declares no tests until called.)
 */
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Alert } from '../../core/alert.js';
import { createLogger } from '../../core/log.js';
import { Priority, type PriorityName } from '../../core/priority.js';
import type { CollectorOutput } from './collector-output.js';
import { sampleAlert } from './output-fixtures.test.js';
import { createOutputRouter } from './output-router.js';
import { OUTPUT_TYPES } from './registry.js';

/** What an alert looked like once it reached the receiver. */
export interface ReceivedAlert {
  readonly id: string;
  readonly rule: string;
  readonly priority: string;
  readonly output: string;
}

/** The identity of an output for one test. */
export interface HarnessSettings {
  readonly name: string;
  readonly minPriority: Priority;
  readonly queueSize: number;
}

/** One output type wired to a live receiver. */
export interface OutputHarness {
  /** A bare output (no retry) delivering to the receiver. */
  create(settings: HarnessSettings): CollectorOutput;
  /** A bare output aimed where nothing answers; omitted where the transport cannot tell (UDP). */
  createUnreachable?(settings: HarnessSettings): CollectorOutput;
  /** Everything the receiver got so far, decoded. */
  received(): Promise<readonly ReceivedAlert[]>;
  /** Stops the receiver and removes what the harness made. */
  close(): Promise<void>;
}

/** Texts that stress every wire format: quoting, escaping, markup, multi-byte UTF-8. */
const AWKWARD_OUTPUTS = [
  'plain ascii output',
  'quotes " and \\ backslash and ] bracket and = sign',
  'markup <b>&amp;</b> <!here> & more',
  'unicode: é ü ß 日本語 🚨',
  'json-ish {"a":[1,2]} and tab\tinside',
];

function settings(name: string, minPriority: Priority = Priority.Debug): HarnessSettings {
  return { name, minPriority, queueSize: 1000 };
}

function expected(alert: Alert): ReceivedAlert {
  return { id: alert.id, rule: alert.rule, priority: alert.priority, output: alert.output };
}

function byId(list: readonly ReceivedAlert[]): ReceivedAlert[] {
  return [...list].sort((a, b) => a.id.localeCompare(b.id));
}

/** What the receiver got, once it has at least `n` alerts (or after 5 s, for the assertion to show). */
async function receivedAtLeast(harness: OutputHarness, n: number): Promise<readonly ReceivedAlert[]> {
  let got = await harness.received();
  const deadline = Date.now() + 5000;
  while (got.length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    got = await harness.received();
  }
  return got;
}

async function sendAll(output: CollectorOutput, alerts: readonly Alert[]): Promise<void> {
  for (let i = 0; i < alerts.length; i += output.maxBatch) {
    const outcome = await output.send(alerts.slice(i, i + output.maxBatch));
    assert.equal(outcome.result, 'success', outcome.result === 'success' ? '' : outcome.error.message);
  }
}

/**
 * Declares the conformance tests for the output type `type`; `setup` starts a receiver and returns
 * a harness, once per test. `variant` tells apart several runs of one type (`tls`, `batch mode`).
 */
export function describeOutputConformance(
  type: string,
  setup: () => Promise<OutputHarness>,
  variant?: string,
): void {
  describe(`${type} output${variant === undefined ? '' : ` (${variant})`}: conformance`, function () {
    this.timeout(20_000);
    let harness: OutputHarness;
    const opened: CollectorOutput[] = [];
    const make = (s: HarnessSettings): CollectorOutput => {
      const output = harness.create(s);
      opened.push(output);
      return output;
    };

    beforeEach(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((o) => o.close()));
      await harness.close();
    });

    it('describes itself: registered type, name, priority, bounds', () => {
      const output = make(settings('under-test', Priority.Warning));
      assert.equal(output.type, type);
      assert.ok(OUTPUT_TYPES.has(output.type), `${type} is not in the registry`);
      assert.equal(output.name, 'under-test');
      assert.equal(output.minPriority, Priority.Warning);
      assert.equal(output.queueSize, 1000);
      assert.ok(
        Number.isSafeInteger(output.maxBatch) && output.maxBatch >= 1,
        'maxBatch must be a positive integer',
      );
    });

    it('delivers every alert intact, awkward characters included', async () => {
      const output = make(settings('under-test'));
      const priorities: PriorityName[] = ['Critical', 'Warning', 'Notice', 'Informational', 'Debug'];
      const alerts = AWKWARD_OUTPUTS.map((text, i) => sampleAlert(i + 1, priorities[i] ?? 'Warning', text));
      await sendAll(output, alerts);
      assert.deepEqual(byId(await receivedAtLeast(harness, alerts.length)), byId(alerts.map(expected)));
    });

    it('delivers a full batch of maxBatch alerts in one send', async () => {
      const output = make(settings('under-test'));
      const n = Math.min(output.maxBatch, 50);
      const alerts = Array.from({ length: n }, (_, i) => sampleAlert(100 + i));
      const outcome = await output.send(alerts);
      assert.equal(outcome.result, 'success');
      assert.deepEqual(byId(await receivedAtLeast(harness, n)), byId(alerts.map(expected)));
    });

    it('treats an empty batch as delivered and sends nothing', async () => {
      const output = make(settings('under-test'));
      assert.equal((await output.send([])).result, 'success');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await harness.received(), []);
    });

    it('refuses to send once closed, and closes twice without complaint', async () => {
      const output = make(settings('under-test'));
      await output.close();
      await output.close();
      const outcome = await output.send([sampleAlert(1)]);
      assert.equal(outcome.result, 'failure');
      assert.ok(outcome.result === 'failure' && outcome.error instanceof Error);
    });

    it('reports an unreachable target as an outcome, not an exception, within its timeout', async function () {
      if (harness.createUnreachable === undefined) {
        this.skip();
        return;
      }
      const output = harness.createUnreachable(settings('unreachable'));
      opened.push(output);
      const started = Date.now();
      const outcome = await output.send([sampleAlert(1)]);
      assert.notEqual(outcome.result, 'success');
      assert.ok(
        outcome.result !== 'success' && outcome.error.message.includes('unreachable'),
        'the error names the output',
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it('gets, through the router, only alerts at or above its minimum priority', async () => {
      const output = make(settings('under-test', Priority.Error));
      const router = createOutputRouter({
        outputs: [output],
        metrics: new Registry(),
        logger: createLogger({ write: () => undefined, now: Date.now }),
      });
      const all: PriorityName[] = [
        'Emergency',
        'Alert',
        'Critical',
        'Error',
        'Warning',
        'Notice',
        'Informational',
        'Debug',
      ];
      const alerts = all.map((p, i) => sampleAlert(200 + i, p));
      router.publish(alerts);
      await router.flush();
      const kept = alerts.filter((a) => ['Emergency', 'Alert', 'Critical', 'Error'].includes(a.priority));
      await receivedAtLeast(harness, kept.length);
      // Give anything that should not have been sent the time to arrive anyway.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(byId(await harness.received()), byId(kept.map(expected)));
      assert.equal(router.status()[0]?.delivered, kept.length);
      // The router owns the output now: closing the router closes it.
      opened.splice(opened.indexOf(output), 1);
      await router.close();
    });

    it('has a registry example that validates, and rejects an unknown key naming output and key', () => {
      const entry = OUTPUT_TYPES.get(type);
      assert.ok(entry !== undefined);
      const plan = entry.parse(entry.example, ['outputs', 0], () => ({ source: 'collector.yaml' }));
      assert.equal(plan.settings.type, type);
      assert.throws(
        () =>
          entry.parse({ ...entry.example, name: 'mine', colour: 'blue' }, ['outputs', 3], () => ({
            source: 'collector.yaml',
          })),
        (err: Error) =>
          err.message.includes('outputs.3.colour') &&
          err.message.includes(`${type} output "mine"`) &&
          err.message.includes('unknown key'),
      );
    });
  });
}
