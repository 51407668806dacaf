/**
 * The `stdout` output: each alert as one JSON line on the agent's standard output, where
 * `kubectl logs`, Fluent Bit or a Falcosidekick sidecar reading Falco's `json_output` pick it up.
 *
 * A write resolves only when the stream has taken the data (its write callback), so a reader
 * that falls behind makes writes slow rather than letting Node buffer without limit; the queue
 * in front (queued-output.ts) then drops and counts.
 */
import type { Writable } from 'node:stream';
import type { Alert } from '../../core/alert.js';
import { AlertOutputError, alertLine, type AlertOutput, type AlertOutputFactory } from './alert-output.js';

/** Options of {@link createStdoutOutput}. */
export interface StdoutOutputOptions {
  /** Where to write (default `process.stdout`). The output never ends or destroys it. */
  readonly stream?: Writable;
}

/**
 * Writes alerts as JSON lines to standard output (or `options.stream`).
 *
 * @example createQueuedOutput(createStdoutOutput())
 */
export function createStdoutOutput(options: StdoutOutputOptions = {}): AlertOutput {
  const stream = options.stream ?? process.stdout;
  // A stream error (EPIPE when the reader went away) must fail writes, not crash the agent as an
  // unhandled 'error' event.
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  stream.on('error', onError);
  let closed = false;

  return {
    name: 'stdout',
    write(alerts: readonly Alert[]): Promise<void> {
      if (closed) return Promise.reject(new Error('the stdout output is closed'));
      if (broken !== undefined) {
        return Promise.reject(new Error(`standard output failed: ${broken.message}`, { cause: broken }));
      }
      if (alerts.length === 0) return Promise.resolve();
      let text = '';
      for (const alert of alerts) text += alertLine(alert);
      return new Promise((resolve, reject) => {
        stream.write(text, (err) => {
          if (err === undefined || err === null) resolve();
          else reject(new Error(`standard output failed: ${err.message}`, { cause: err }));
        });
      });
    },
    close(): void {
      if (closed) return;
      closed = true;
      stream.off('error', onError);
    },
  };
}

/** Registry entry for `--output stdout`. */
export const stdoutOutputFactory: AlertOutputFactory = {
  name: 'stdout',
  description: 'each alert as a JSON line (Falco json_output) on standard output',
  example: 'stdout',
  create(spec) {
    if (spec.target !== '' && spec.target !== '-') {
      throw new AlertOutputError('stdout', `takes no target, got '${spec.target}'`);
    }
    const unknown = Object.keys(spec.options);
    if (unknown.length > 0)
      throw new AlertOutputError('stdout', `takes no options, got ${unknown.join(', ')}`);
    return createStdoutOutput();
  },
};
