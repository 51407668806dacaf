/**
 * The conformance suite every {@link AlertOutput} runs: one set of expectations, one call per
 * output's test file. An output passes when what it wrote, read back from where it wrote it,
 * is each alert as one JSON line, in order. (Named `.test.ts` so that it stays test code; it
 * declares no tests itself.)
 */
import assert from 'node:assert/strict';
import type { Alert } from '../../core/alert.js';
import type { PriorityName } from '../../core/priority.js';
import type { AlertOutput } from './alert-output.js';
import { findAlertOutputFactory } from './registry.js';

/** An output built for one test, and a way to read back what it wrote. */
export interface OutputUnderTest {
  readonly output: AlertOutput;
  /** Everything written so far, as text. */
  written(): Promise<string>;
  /** Releases what the test set up (files, streams); called after each test. */
  cleanup(): Promise<void> | void;
}

/** A complete alert for output tests. */
export function sampleAlert(id: string, priority: PriorityName = 'Warning', output = `alert ${id}`): Alert {
  return {
    time: '2024-05-01T12:00:00.000000000Z',
    rule: 'Terminal shell in container',
    priority,
    output,
    output_fields: { 'proc.name': 'bash', 'container.id': '5f6c4e2a1b3d', 'evt.time': 1714564800000000000 },
    source: 'syscall',
    tags: ['container', 'shell'],
    hostname: 'node-1',
    id,
    kind: 'signature',
    node: 'node-1',
    workload: { namespace: 'default', pod: 'web-1', container: 'nginx' },
  };
}

function parseLines(text: string): unknown[] {
  assert.ok(text === '' || text.endsWith('\n'), 'output does not end with a newline');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as unknown);
}

/**
 * Declares the conformance tests for the output registered as `name`; `setup` builds a fresh
 * one for each test.
 */
export function describeAlertOutputConformance(name: string, setup: () => Promise<OutputUnderTest>): void {
  describe(`${name} output: conformance`, () => {
    let subject: OutputUnderTest;
    beforeEach(async () => {
      subject = await setup();
    });
    afterEach(async () => {
      await subject.output.close();
      await subject.cleanup();
    });

    it('carries its registry name', () => {
      assert.equal(subject.output.name, name);
      assert.ok(findAlertOutputFactory(name) !== undefined, `${name} is not in the registry`);
    });

    it('writes each alert as one JSON line, in order, across batches', async () => {
      const first = [sampleAlert('a', 'Critical'), sampleAlert('b', 'Notice', 'two\nlines "quoted" ✓')];
      const second = [sampleAlert('c', 'Debug')];
      await subject.output.write(first);
      await subject.output.write(second);
      assert.deepEqual(parseLines(await subject.written()), [...first, ...second]);
    });

    it('writes nothing for an empty batch', async () => {
      await subject.output.write([]);
      assert.equal(await subject.written(), '');
    });

    it('closes idempotently, and refuses writes after close', async () => {
      await subject.output.write([sampleAlert('a')]);
      await subject.output.close();
      await subject.output.close();
      await assert.rejects(async () => subject.output.write([sampleAlert('b')]), /closed/);
      assert.deepEqual(parseLines(await subject.written()), [sampleAlert('a')]);
    });
  });
}
