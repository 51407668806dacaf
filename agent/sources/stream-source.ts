/**
 * A source that is "a byte stream through a decoder": a {@link ByteInput} moves bytes, a
 * {@link DecoderFactory} turns them into events, and this class adds what every source owes the
 * agent — a lifecycle that is safe to call twice, counters, and the promise that nothing reaches
 * the sink after `stop()`. The JSON sources (jsonl, sysdig, tetragon, tracee) and the future eBPF
 * source (a child process writing length-prefixed records) are all instances of it.
 */
import type { Event } from '../../core/event.js';
import type { EventSource, SourceFidelity, SourceSink, SourceStats } from './source.js';
import type { DecodeSink, DecoderFactory } from './decoder.js';
import { deferred, type ByteInput, type ByteInputHandler, type ByteStream } from './byte-input.js';
import { MalformedCounter } from './malformed-counter.js';

/** What a {@link StreamSource} is made of. */
export interface StreamSourceOptions {
  /** Registry name of the source. */
  readonly name: string;
  readonly fidelity?: SourceFidelity;
  readonly input: ByteInput;
  readonly decoder: DecoderFactory;
  /** Milliseconds since the epoch, for lag; injectable for tests. */
  readonly now?: () => number;
}

type State = 'new' | 'starting' | 'running' | 'stopped';

/**
 * An {@link EventSource} reading a {@link ByteInput} through a decoder.
 *
 * @example
 *   const source = new StreamSource({
 *     name: 'jsonl',
 *     input: new FileInput('/var/log/falco.jsonl', { follow: true }),
 *     decoder: createJsonLinesDecoder((r) => ({ fields: r })),
 *   });
 *   await source.start(sink);
 */
export class StreamSource implements EventSource {
  readonly name: string;
  readonly fidelity: SourceFidelity;
  private readonly input: ByteInput;
  private readonly decoder: DecoderFactory;
  private readonly now: () => number;

  private state: State = 'new';
  private sink: SourceSink | undefined;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly finished = deferred();

  private events = 0;
  private bytes = 0;
  private readonly malformed = new MalformedCounter();
  private lagSeconds: number | undefined;
  /** The newest event of the current chunk, for lag; cleared after each chunk. */
  private lastEvent: Event | undefined;

  constructor(options: StreamSourceOptions) {
    this.name = options.name;
    this.fidelity = options.fidelity ?? 'traced';
    this.input = options.input;
    this.decoder = options.decoder;
    this.now = options.now ?? Date.now;
  }

  start(sink: SourceSink): Promise<void> {
    if (this.state === 'stopped') return Promise.reject(new Error(`source ${this.name} was stopped`));
    if (this.startPromise !== undefined) {
      if (sink !== this.sink) {
        return Promise.reject(new Error(`source ${this.name} is already started with another sink`));
      }
      return this.startPromise;
    }
    this.sink = sink;
    this.state = 'starting';
    this.startPromise = this.input.start(this.handler()).then(
      () => {
        if (this.state === 'starting') this.state = 'running';
        this.input.done().then(
          () => this.finished.resolve(),
          (err: unknown) => this.finished.reject(asError(err)),
        );
      },
      (err: unknown) => {
        this.state = 'stopped';
        const e = asError(err);
        this.finished.reject(e);
        throw e;
      },
    );
    return this.startPromise;
  }

  done(): Promise<void> {
    return this.finished.promise;
  }

  stop(): Promise<void> {
    if (this.stopPromise !== undefined) return this.stopPromise;
    const started = this.startPromise;
    this.state = 'stopped';
    this.stopPromise = (async () => {
      if (started !== undefined) {
        const ok = await started.then(
          () => true,
          () => false,
        );
        if (ok) await this.input.stop();
      }
      this.finished.resolve();
    })();
    return this.stopPromise;
  }

  stats(): SourceStats {
    return {
      events: this.events,
      malformed: this.malformed.total,
      malformedByReason: this.malformed.snapshot(),
      bytes: this.bytes,
      lagSeconds: this.lagSeconds,
    };
  }

  /** The handler given to the input: counts, stamps lag, and goes quiet once stopped. */
  private handler(): ByteInputHandler {
    const decodeSink: DecodeSink = {
      event: (evt) => {
        if (this.state === 'stopped') return;
        this.events++;
        this.lastEvent = evt;
        this.sink?.event(evt);
      },
      malformed: (reason, detail) => {
        if (this.state === 'stopped') return;
        this.malformed.count(reason);
        this.sink?.malformed(reason, detail);
      },
    };
    return {
      open: (): ByteStream => {
        const decoder = this.decoder(decodeSink);
        let ended = false;
        return {
          data: (chunk) => {
            if (this.state === 'stopped' || ended) return;
            this.bytes += chunk.length;
            decoder.push(chunk);
            this.updateLag();
          },
          end: () => {
            if (ended) return;
            ended = true;
            if (this.state === 'stopped') return;
            decoder.end();
            this.updateLag();
          },
        };
      },
      notice: (message, fields) => {
        if (this.state !== 'stopped') this.sink?.notice(message, fields);
      },
    };
  }

  /** Lag from the newest event of a chunk: once per chunk keeps the clock off the hot path. */
  private updateLag(): void {
    const evt = this.lastEvent;
    if (evt === undefined) return;
    this.lastEvent = undefined;
    const raw = evt.fields['evt.rawtime'];
    const ns =
      typeof raw === 'number' || typeof raw === 'bigint'
        ? Number(raw)
        : typeof raw === 'string'
          ? Number(raw)
          : NaN;
    if (Number.isFinite(ns) && ns > 0) this.lagSeconds = Math.max(0, (this.now() - ns / 1e6) / 1000);
  }
}

/** Normalizes a thrown value to an Error. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
