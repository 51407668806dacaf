/**
 * The registry of local alert outputs: every output the agent can write to, listed once. The
 * CLI and the configuration name outputs as `NAME` or `NAME:TARGET` (`stdout`,
 * `file:/var/log/vigil/alerts.jsonl`); {@link createAlertOutput} builds one behind its bounded
 * queue.
 */
import { AlertOutputError, type AlertOutputFactory } from './alert-output.js';
import { fileOutputFactory } from './file-output.js';
import { createQueuedOutput, type OutputQueueOptions, type QueuedAlertOutput } from './queued-output.js';
import { stdoutOutputFactory } from './stdout-output.js';

/** Every local alert output, by name. */
export const alertOutputFactories: readonly AlertOutputFactory[] = [stdoutOutputFactory, fileOutputFactory];

/** The registry entry called `name`, or undefined. */
export function findAlertOutputFactory(name: string): AlertOutputFactory | undefined {
  return alertOutputFactories.find((f) => f.name === name);
}

/**
 * Builds the output that `text` (`NAME` or `NAME:TARGET`) names, with its options, behind a
 * bounded queue. Throws {@link AlertOutputError} for an unknown name or a bad spec, listing
 * what is known.
 *
 * @example createAlertOutput('file:/var/log/vigil/alerts.jsonl', { maxFiles: 3 }, { maxQueued: 5000 })
 */
export function createAlertOutput(
  text: string,
  options: Readonly<Record<string, unknown>> = {},
  queue: OutputQueueOptions = {},
): QueuedAlertOutput {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const target = colon < 0 ? '' : text.slice(colon + 1);
  const factory = findAlertOutputFactory(name);
  if (factory === undefined) {
    const known = alertOutputFactories.map((f) => f.example).join(', ');
    throw new AlertOutputError(text, `unknown output '${name}' (known: ${known})`);
  }
  return createQueuedOutput(factory.create({ target, options }), queue);
}
