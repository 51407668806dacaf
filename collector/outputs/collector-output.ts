/**
 * The interface every collector output implements: the places the collector forwards alerts to
 * after storing them (a webhook, Slack, a syslog server, an existing Falcosidekick, a file).
 *
 * An output only knows how to deliver one batch. Everything around that — which alerts it gets
 * (`minPriority`), the bounded queue in front of it, the worker that drains the queue, retries
 * with backoff, metrics and warnings — belongs to the {@link OutputRouter} and the retry
 * decorator, so that each output file holds only its wire format and transport.
 *
 * Expected outcomes of a delivery are values ({@link SendOutcome}); `send` never rejects for a
 * refused connection or a 500. It rejects only for programming errors, which the router counts
 * as failures too.
 */
import type { Alert } from '../../core/alert.js';
import type { Priority } from '../../core/priority.js';

/** The batch was delivered. `attempts` is set by the retry decorator: 1 when no retry was needed. */
export interface SendSuccess {
  readonly result: 'success';
  readonly attempts?: number;
}

/** The batch cannot be delivered, and trying again would not help (a 4xx, a bad payload, a closed output). */
export interface SendFailure {
  readonly result: 'failure';
  readonly error: Error;
  readonly attempts?: number;
}

/** The batch was not delivered this time but may be later (a 5xx, a 429, a refused or reset connection). */
export interface SendRetryable {
  readonly result: 'retryable';
  readonly error: Error;
  /** The receiver asked to wait at least this long (HTTP `Retry-After`). */
  readonly retryAfterMs?: number;
}

/** What one `send` came to. */
export type SendOutcome = SendSuccess | SendFailure | SendRetryable;

/** The outcome of a delivered batch. */
export function sendSuccess(): SendSuccess {
  return { result: 'success' };
}

/** The outcome of a batch that must not be retried. */
export function sendFailure(error: Error): SendFailure {
  return { result: 'failure', error };
}

/** The outcome of a batch worth retrying, after at least `retryAfterMs` when the receiver said so. */
export function sendRetryable(error: Error, retryAfterMs?: number): SendRetryable {
  return retryAfterMs === undefined
    ? { result: 'retryable', error }
    : { result: 'retryable', error, retryAfterMs };
}

/**
 * One destination for alerts.
 *
 * @example
 * const outcome = await output.send(alerts);
 * if (outcome.result !== 'success') log.warn('output failed', { output: output.name, err: outcome.error });
 */
export interface CollectorOutput {
  /** The instance name from the configuration (`soc-webhook`); unique among the collector's outputs. */
  readonly name: string;
  /** The registry type (`webhook`, `slack`, `syslog`, `falco`, `file`). */
  readonly type: string;
  /** Alerts less severe than this are not given to the output. */
  readonly minPriority: Priority;
  /** The most alerts waiting for this output; past that the least important are dropped. */
  readonly queueSize: number;
  /** The most alerts handed to one `send` (1 for outputs that deliver one alert per request). */
  readonly maxBatch: number;
  /**
   * Delivers `batch` (at most `maxBatch` alerts, in order). Resolves with the outcome; `signal`
   * aborts a delivery in progress when the collector shuts down (the outcome is then `failure`).
   * Calls are never overlapped by the router.
   */
  send(batch: readonly Alert[], signal?: AbortSignal): Promise<SendOutcome>;
  /** Releases sockets and files; idempotent. Sends after close resolve to `failure`. */
  close(): Promise<void>;
}

/** An error for an aborted delivery: the collector is shutting down. */
export function abortedError(output: string, signal: AbortSignal): Error {
  return new Error(`output ${output}: delivery aborted`, { cause: signal.reason });
}

/** True once `signal` has aborted; a function, so that a check after an `await` is not narrowed away. */
export function isAborted(signal: AbortSignal | undefined): signal is AbortSignal {
  return signal?.aborted === true;
}
