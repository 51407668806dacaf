/**
 * What the JSON sources (jsonl, sysdig, tetragon, tracee) share: the targets they read and the
 * options that control reading. They differ only in the {@link RecordMapper} that turns one
 * parsed object into a Falco-field event.
 *
 * Targets (the part after `NAME:` in `--source NAME:TARGET`):
 * - `-`: standard input, read to its end;
 * - `unix:/path`: a Unix socket the agent listens on; any number of writers may connect (see
 *   `unix-socket-input.ts` for why the agent listens rather than connects);
 * - any other path: a FIFO (kept open across writers) or a regular file (followed like
 *   `tail -F`, from its beginning unless `startAt: end`); with `follow: false` both are read
 *   once to their end, and `done()` resolves.
 *
 * Options: `follow` (boolean, default true), `startAt` (`beginning` | `end`), `pollIntervalMs`
 * (file change check fallback, default 250), `maxLineBytes` (default 1 MiB), `socketMode`
 * (default 0o600), `maxConnections` (default 64).
 */
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { EventSource, SourceFactory, SourceSpec } from './source.js';
import type { RecordMapper } from './decoder.js';
import type { ByteInput, ByteInputHandler } from './byte-input.js';
import { DEFAULT_MAX_LINE_BYTES } from './line-splitter.js';
import { createJsonLinesDecoder } from './json-lines-decoder.js';
import { StreamSource } from './stream-source.js';
import { SourceOptions } from './source-options.js';
import { FileInput, type FileInputOptions } from './file-input.js';
import { FifoInput } from './fifo-input.js';
import { UnixSocketInput } from './unix-socket-input.js';
import { ReadableInput } from './readable-input.js';

/** Largest `maxLineBytes` accepted: beyond this a "line" is not an event. */
const MAX_MAX_LINE_BYTES = 64 << 20;

/** How a JSON source is described in the registry. */
export interface JsonSourceDescription {
  readonly name: string;
  readonly description: string;
  readonly example: string;
  readonly mapper: RecordMapper;
}

/** Things a JSON source can be given besides its spec; tests use them, the agent does not. */
export interface JsonSourceEnvironment {
  /** The stream `-` reads (default: process.stdin). */
  readonly stdin?: Readable;
}

/** Makes the registry entry of a JSON source. */
export function jsonSourceFactory(desc: JsonSourceDescription): SourceFactory {
  return {
    name: desc.name,
    description: desc.description,
    example: desc.example,
    create: (spec) => createJsonSource(desc.name, desc.mapper, spec),
  };
}

/**
 * Creates a JSON source reading `spec.target` through `mapper`. Throws for a missing target or a
 * bad option; I/O problems (no such file) surface from `start`.
 */
export function createJsonSource(
  name: string,
  mapper: RecordMapper,
  spec: SourceSpec,
  env: JsonSourceEnvironment = {},
): EventSource {
  const o = new SourceOptions(name, spec.options);
  const follow = o.boolean('follow', true);
  const startAt = o.choice('startAt', 'beginning', ['beginning', 'end'] as const);
  const pollIntervalMs = o.number('pollIntervalMs', 250, { min: 10, max: 60_000, integer: true });
  const maxLineBytes = o.number('maxLineBytes', DEFAULT_MAX_LINE_BYTES, {
    min: 1,
    max: MAX_MAX_LINE_BYTES,
    integer: true,
  });
  const socketMode = o.number('socketMode', 0o600, { min: 0, max: 0o777, integer: true });
  const maxConnections = o.number('maxConnections', 64, { min: 1, max: 4096, integer: true });
  o.finish();

  const target = spec.target;
  let input: ByteInput;
  if (target === '') {
    throw new Error(`source ${name} needs a target: a path, a FIFO, unix:/path or - for stdin`);
  } else if (target === '-') {
    input = new ReadableInput(env.stdin ?? process.stdin, '-');
  } else if (target.startsWith('unix:')) {
    const path = target.slice('unix:'.length);
    if (path === '') throw new Error(`source ${name}: unix: needs a socket path`);
    input = new UnixSocketInput(path, { mode: socketMode, maxConnections });
  } else {
    input = new PathInput(target, { follow, startAt, pollIntervalMs });
  }
  return new StreamSource({ name, input, decoder: createJsonLinesDecoder(mapper, { maxLineBytes }) });
}

/**
 * A path that is a FIFO or a regular file: which one is decided when the source starts, since
 * the FIFO may be created after the configuration is read.
 */
class PathInput implements ByteInput {
  readonly describe: string;
  private inner: ByteInput | undefined;

  constructor(
    private readonly path: string,
    private readonly options: FileInputOptions & { readonly follow: boolean },
  ) {
    this.describe = path;
  }

  async start(handler: ByteInputHandler): Promise<void> {
    const st = await stat(this.path);
    if (st.isFIFO()) {
      this.inner = new FifoInput(this.path, { follow: this.options.follow });
    } else if (st.isFile()) {
      this.inner = new FileInput(this.path, this.options);
    } else if (st.isSocket()) {
      throw new Error(`${this.path} is a socket; to listen on it, use unix:${this.path}`);
    } else {
      throw new Error(`${this.path} is neither a regular file nor a FIFO`);
    }
    await this.inner.start(handler);
  }

  done(): Promise<void> {
    return this.inner?.done() ?? Promise.resolve();
  }

  stop(): Promise<void> {
    return this.inner?.stop() ?? Promise.resolve();
  }
}
