/**
 * The interface every local alert output implements, and what its registry entry looks like.
 *
 * Local outputs are where the agent itself writes alerts besides its spool: stdout for
 * `kubectl logs` and log collectors, a rotated JSON-lines file for a host-side shipper. Alerts
 * are written as Falco's JSON alert (plus Vigil's fields), one per line, so anything that reads
 * Falco's `json_output` reads these.
 *
 * An output may be slow; the pipeline never calls one directly but through
 * {@link createQueuedOutput} (queued-output.ts), which bounds what waits for it.
 */
import type { Alert } from '../../core/alert.js';

/** One place alerts are written to. */
export interface AlertOutput {
  /** The registry name (`stdout`, `file`). */
  readonly name: string;
  /**
   * Writes a batch, in order. Resolves (or returns) once the batch has been handed to the
   * operating system; rejects with an Error when it could not be written. Calls are not
   * overlapped by the queue, but an output must tolerate it.
   */
  write(alerts: readonly Alert[]): Promise<void> | void;
  /** Releases what the output holds once pending writes are done; idempotent. */
  close(): Promise<void> | void;
}

/** What an output factory gets: the text after `NAME:` in `--output NAME:TARGET`, and options. */
export interface AlertOutputSpec {
  /** The part after the colon: a path for `file`; empty for `stdout`. */
  readonly target: string;
  /** Output-specific options from the agent's configuration. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** One entry in the output registry. */
export interface AlertOutputFactory {
  readonly name: string;
  /** One line for `--help` and errors. */
  readonly description: string;
  /** Example `--output` value. */
  readonly example: string;
  /** Builds the output; throws {@link AlertOutputError} when the spec is unusable. */
  create(spec: AlertOutputSpec): AlertOutput;
}

/** A bad output specification: the message names the output and what was expected. */
export class AlertOutputError extends Error {
  override readonly name = 'AlertOutputError';
  constructor(
    /** The output's registry name, or the text that failed to name one. */
    readonly output: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`output ${output}: ${message}`, options);
  }
}

/** One alert as a JSON line, newline included: the format of every local output. */
export function alertLine(alert: Alert): string {
  return JSON.stringify(alert) + '\n';
}
