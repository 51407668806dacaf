/**
 * The interface every event source implements, and what a source reports to.
 *
 * A source turns some external stream — a JSON-lines file, sysdig's JSON, Tetragon or Tracee
 * exports, /proc polling, the eBPF sensor's binary records from a child process — into
 * {@link Event}s keyed by Falco field names. Sources emit; the agent's pipeline routes: a source
 * never knows about rules, spools or shippers.
 */
import type { Event } from '../../core/event.js';

/**
 * Whether a source's events are traced (every occurrence) or sampled (seen by polling).
 *
 * Events of a sampled source carry the Vigil field `evt.sampled: true` (a bool, not in Falco's
 * vocabulary): the thing happened, but it was noticed after the fact by looking, so short-lived
 * activity between two looks is missed and times are when it was seen. Rules and analysts can
 * tell such events apart (`evt.sampled=true`) and weigh them accordingly.
 */
export type SourceFidelity = 'traced' | 'sampled';

/** Where a source delivers what it reads. Calls are synchronous and must not block. */
export interface SourceSink {
  /** One decoded event. The sink may keep `evt`; the source must not reuse it. */
  event(evt: Event): void;
  /**
   * An input unit (line, record) that could not be decoded: counted and skipped.
   * `reason` is a short stable token for metrics (`not-json`, `oversized`, `bad-type`, ...).
   */
  malformed(reason: string, detail?: string): void;
  /** A condition the operator should know about (rotation followed, reconnect, fallback...). */
  notice(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** Counters every source keeps, for metrics and `vigil agent` status. */
export interface SourceStats {
  readonly events: number;
  readonly malformed: number;
  /**
   * Malformed input units by reason token (the `reason` given to {@link SourceSink.malformed}).
   * The set of tokens is small and fixed per source, so this stays bounded.
   */
  readonly malformedByReason: Readonly<Record<string, number>>;
  /** Bytes (or records) read from the underlying stream. */
  readonly bytes: number;
  /**
   * How far behind the source is, in seconds: the age of the newest event's timestamp when it
   * was read, where the source can tell; undefined otherwise.
   */
  readonly lagSeconds: number | undefined;
  /** Events the source knows it lost (the eBPF sensor's ring buffer), by event type. */
  readonly lostByType?: Readonly<Record<string, number>>;
}

/** A running source. */
export interface EventSource {
  /** The registry name (`jsonl`, `sysdig`, `tetragon`, `tracee`, `procfs`, `ebpf`). */
  readonly name: string;
  readonly fidelity: SourceFidelity;
  /**
   * Starts reading and delivering to `sink`. Resolves once the source is running (not when it
   * ends); a source that cannot start rejects with an Error saying why. Calling it again with the
   * same sink returns the same promise; a source is not restartable, so `start` after `stop`
   * rejects.
   */
  start(sink: SourceSink): Promise<void>;
  /**
   * Resolves when a finite input (a file read once, stdin) has been fully delivered, or when the
   * source was stopped; rejects when reading failed for good (an I/O error the source cannot
   * recover from). A followed input (a tailed file, a socket, /proc polling) only settles on
   * `stop()` or failure.
   */
  done(): Promise<void>;
  /**
   * Stops reading and releases what it holds; idempotent. Once it resolves the sink receives
   * nothing more.
   */
  stop(): Promise<void>;
  stats(): SourceStats;
}

/** What a source factory gets: the text after `NAME:` in `--source NAME:SPEC`, and options. */
export interface SourceSpec {
  /** The part after the colon: a path, `-` for stdin, a socket path... (may be empty). */
  readonly target: string;
  /** Source-specific options from the agent's configuration. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** One entry in the source registry. */
export interface SourceFactory {
  readonly name: string;
  /** One line for `--help` and errors. */
  readonly description: string;
  /** Example `--source` value. */
  readonly example: string;
  create(spec: SourceSpec): EventSource;
}
