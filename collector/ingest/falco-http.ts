/**
 * Falco-compatible ingest: the collector accepts what Falco's own `http_output` sends, so that
 * existing Falco deployments can point `http_output.url` at Vigil
 * (`http://vigil-collector:PORT/api/v1/falco`) and their alerts join Vigil's.
 *
 * Falco (with `json_output: true`) POSTs one alert per request, `Content-Type: application/json`:
 * `{"hostname","output","output_fields","priority","rule","source","tags","time"}` — plus
 * `message` when `json_include_message_property` is on. This handler also accepts a JSON array of
 * such objects and JSON lines (one object per line), for replaying Falco's file output.
 *
 * Each object becomes a Vigil {@link Alert}: kind `signature`, node = Falco's hostname, workload
 * from the `k8s.*` and `container.*` output fields, and an id that is a UUID (version 5, name-based)
 * of the alert's content, so that the same alert posted twice — Falco retries a timed-out post —
 * is the same alert to the store's idempotent insert.
 *
 * Mount {@link createFalcoHttpHandler} on the collector's HTTP server at `POST /api/v1/falco`, or
 * call {@link parseFalcoBody} from any framework.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clockTimeNs, isoTimeNs, type Alert, type AlertWorkload } from '../../core/alert.js';
import { parsePriority, priorityName } from '../../core/priority.js';

/** The largest body accepted by default: 1 MiB (a Falco alert is a few KiB at most). */
export const DEFAULT_FALCO_BODY_LIMIT = 1024 * 1024;

/** A body that is not Falco's JSON: the message names the alert (when several) and the field. */
export class FalcoPayloadError extends Error {
  override readonly name = 'FalcoPayloadError';
  constructor(
    /** The offending field, `(body)` when the body as a whole is wrong. */
    readonly field: string,
    /** `[2]` for the third alert of an array, `line 3` for JSON lines, empty for a single alert. */
    readonly where: string,
    detail: string,
  ) {
    super(`${where === '' ? '' : `${where}: `}${field}: ${detail}`);
  }
}

/** The namespace of Vigil's name-based alert ids (a fixed random UUID; changing it changes every id). */
const ID_NAMESPACE = Buffer.from('297137fbad9348769b192632c2fffaa3', 'hex');

/** JSON with object keys sorted at every level: the same content always gives the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A version-5 UUID (SHA-1, name-based) of `name` in Vigil's namespace. */
function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(ID_NAMESPACE).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const RFC3339 = /^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$/;

/** Nanoseconds since the epoch of an RFC 3339 time with up to nine fraction digits. */
function parseTime(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const zone = (m[4] ?? 'Z').toUpperCase();
  const ms = Date.parse(`${m[1] ?? ''}T${m[2] ?? ''}${zone}`);
  if (Number.isNaN(ms) || ms < 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
}

/** A usable string output field: not missing, not null, not Falco's `<NA>`. */
function fieldText(fields: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = fields[key];
  return typeof v === 'string' && v !== '' && v !== '<NA>' ? v : undefined;
}

function workloadOf(fields: Readonly<Record<string, unknown>>): AlertWorkload | undefined {
  const repository = fieldText(fields, 'container.image.repository');
  const tag = fieldText(fields, 'container.image.tag');
  const image =
    repository !== undefined
      ? tag !== undefined
        ? `${repository}:${tag}`
        : repository
      : fieldText(fields, 'container.image');
  const parts: [keyof AlertWorkload, string | undefined][] = [
    ['namespace', fieldText(fields, 'k8s.ns.name')],
    ['pod', fieldText(fields, 'k8s.pod.name')],
    ['container', fieldText(fields, 'container.name')],
    ['image', image],
  ];
  const workload: Record<string, string> = {};
  for (const [k, v] of parts) if (v !== undefined) workload[k] = v;
  return Object.keys(workload).length === 0 ? undefined : workload;
}

/**
 * Converts one Falco JSON alert to a Vigil alert, or throws {@link FalcoPayloadError} naming the
 * field. `where` prefixes the error (`[2]`, `line 3`).
 *
 * @example falcoToAlert({ hostname: 'node-1', rule: 'Terminal shell in container', priority: 'Notice', time: '2024-05-01T12:00:00.123456789Z', output: '...', output_fields: {}, source: 'syscall', tags: [] })
 */
export function falcoToAlert(value: unknown, where = ''): Alert {
  const fail: (field: string, detail: string) => never = (field, detail) => {
    throw new FalcoPayloadError(field, where, detail);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail('(body)', `expected Falco's JSON alert (an object), found ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;

  const rule = o['rule'];
  if (typeof rule !== 'string' || rule.trim() === '')
    fail('rule', `expected a non-empty string, found ${describe(rule)}`);

  const rawPriority = o['priority'];
  const priority = typeof rawPriority === 'string' ? parsePriority(rawPriority.trim()) : undefined;
  if (priority === undefined) {
    fail('priority', `expected a Falco priority (Emergency ... Debug), found ${describe(rawPriority)}`);
  }

  const rawTime = o['time'];
  const ns = typeof rawTime === 'string' ? parseTime(rawTime) : undefined;
  if (ns === undefined) {
    fail('time', `expected an RFC 3339 time like 2024-05-01T12:00:00.123456789Z, found ${describe(rawTime)}`);
  }

  const hostname = o['hostname'];
  if (typeof hostname !== 'string' || hostname.trim() === '') {
    fail(
      'hostname',
      `expected the node's name (a non-empty string; Falco sets it), found ${describe(hostname)}`,
    );
  }

  const rawFields = o['output_fields'];
  if (
    rawFields !== undefined &&
    rawFields !== null &&
    (typeof rawFields !== 'object' || Array.isArray(rawFields))
  ) {
    fail('output_fields', `expected an object of field names to values, found ${describe(rawFields)}`);
  }
  const fields = (rawFields ?? {}) as Readonly<Record<string, unknown>>;

  const source = o['source'] ?? 'syscall';
  if (typeof source !== 'string' || source === '')
    fail('source', `expected a non-empty string, found ${describe(source)}`);

  const tags = o['tags'] ?? [];
  if (!Array.isArray(tags)) fail('tags', `expected a list of strings, found ${describe(tags)}`);
  (tags as unknown[]).forEach((t, i) => {
    if (typeof t !== 'string') fail(`tags[${i}]`, `expected a string, found ${describe(t)}`);
  });

  const output = o['output'];
  const message = o['message'];
  if (output !== undefined && typeof output !== 'string')
    fail('output', `expected a string, found ${describe(output)}`);
  if (message !== undefined && typeof message !== 'string')
    fail('message', `expected a string, found ${describe(message)}`);

  const p = priorityName(priority);
  const time = ns;
  const text =
    typeof output === 'string'
      ? output
      : `${clockTimeNs(time)}: ${p} ${typeof message === 'string' ? message : rule}`;
  const node = hostname.trim();
  const identity = {
    hostname: node,
    output: text,
    output_fields: fields,
    priority: p,
    rule,
    source,
    tags,
    time: isoTimeNs(time),
  };
  const workload = workloadOf(fields);
  return {
    time: identity.time,
    rule,
    priority: p,
    output: text,
    output_fields: fields,
    source,
    tags: [...(tags as string[])],
    hostname: node,
    id: nameBasedUuid(canonicalJson(identity)),
    kind: 'signature',
    node,
    ...(workload !== undefined ? { workload } : {}),
  };
}

/**
 * Parses a request body holding one Falco alert, a JSON array of them, or JSON lines; throws
 * {@link FalcoPayloadError} for the first thing wrong.
 *
 * @example parseFalcoBody('{"hostname":"node-1","rule":"r","priority":"Warning","time":"2024-05-01T12:00:00Z","output":"x"}').length === 1
 */
export function parseFalcoBody(body: string): Alert[] {
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  const trimmed = text.trim();
  if (trimmed === '') throw new FalcoPayloadError('(body)', '', "empty: expected Falco's JSON alert");
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(trimmed) as unknown;
  } catch (err) {
    wholeError = err;
  }
  if (wholeError === undefined) {
    if (!Array.isArray(whole)) return [falcoToAlert(whole)];
    if (whole.length === 0)
      throw new FalcoPayloadError('(body)', '', 'an empty list: expected at least one alert');
    return whole.map((item, i) => falcoToAlert(item, `[${i}]`));
  }
  const lines = text.split('\n');
  if (trimmed.startsWith('[') || lines.filter((l) => l.trim() !== '').length < 2) {
    throw new FalcoPayloadError('(body)', '', `not JSON (${(wholeError as Error).message})`);
  }
  const alerts: Alert[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line) as unknown;
    } catch (err) {
      throw new FalcoPayloadError('(body)', `line ${i + 1}`, `not JSON (${(err as Error).message})`);
    }
    alerts.push(falcoToAlert(value, `line ${i + 1}`));
  });
  return alerts;
}

/** What {@link createFalcoHttpHandler} needs. */
export interface FalcoHttpOptions {
  /**
   * Receives each accepted body's alerts, in order. The response waits for it: 200 once it
   * resolves, 503 when it throws or rejects (the collector could not take them now).
   */
  readonly onAlerts: (alerts: readonly Alert[]) => void | Promise<void>;
  /** The largest body accepted, in bytes (default {@link DEFAULT_FALCO_BODY_LIMIT}). */
  readonly maxBodyBytes?: number;
  /** Told about every refused request (for metrics and debug logs); `status` is the HTTP status sent. */
  readonly onRejected?: (status: number, reason: string) => void;
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, close = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(status === 405 ? { allow: 'POST' } : {}),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

/**
 * A node:http request handler for Falco's `http_output`. Answers 200 `{"accepted": n}`, 400
 * `{"error", "field"}` for a body that is not Falco's JSON, 405 for a method other than POST,
 * 413 for a body over the limit (refused as soon as the limit is passed, or up front from
 * Content-Length), and 503 when `onAlerts` fails. The caller routes by path and applies its own
 * authentication; the server's `requestTimeout` bounds slow senders.
 *
 * @example
 * const falco = createFalcoHttpHandler({ onAlerts: (alerts) => ingest.accept(alerts) });
 * http.createServer((req, res) => (req.url === '/api/v1/falco' ? falco(req, res) : next(req, res)));
 */
export function createFalcoHttpHandler(
  options: FalcoHttpOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const limit = options.maxBodyBytes ?? DEFAULT_FALCO_BODY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`falco ingest: maxBodyBytes must be a positive integer, got ${String(limit)}`);
  }
  const refuse = (
    res: ServerResponse,
    status: number,
    reason: string,
    extra: Record<string, unknown> = {},
  ): void => {
    options.onRejected?.(status, reason);
    reply(res, status, { error: reason, ...extra }, status === 413);
  };

  return (req, res) => {
    if (req.method !== 'POST') {
      req.resume();
      refuse(res, 405, `method ${req.method ?? '?'} not allowed: Falco's http_output POSTs alerts`);
      return;
    }
    const tooLarge = (): void => {
      refuse(res, 413, `body larger than ${limit} bytes`);
      // Read and discard what the client still sends, so it can read the 413 rather than a reset,
      // but only up to one more limit's worth: then the connection goes.
      let discarded = 0;
      req.removeAllListeners('data');
      req.on('data', (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > limit) req.socket.destroy();
      });
      req.resume();
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      // The client went away mid-body; there is nobody left to answer.
      chunks.length = 0;
    });
    req.on('end', () => {
      if (over) return;
      let alerts: Alert[];
      try {
        alerts = parseFalcoBody(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        if (err instanceof FalcoPayloadError) {
          const hint =
            err.field === '(body)' && /^text\/plain/i.test(req.headers['content-type'] ?? '')
              ? ' (Falco sends text/plain when json_output is false: set json_output: true)'
              : '';
          refuse(res, 400, err.message + hint, { field: err.field });
          return;
        }
        refuse(res, 500, 'internal error reading the body');
        return;
      }
      let pending: void | Promise<void>;
      try {
        pending = options.onAlerts(alerts);
      } catch (err) {
        refuse(res, 503, `alerts not accepted: ${(err as Error).message ?? String(err)}`);
        return;
      }
      Promise.resolve(pending).then(
        () => reply(res, 200, { accepted: alerts.length }),
        (err: unknown) =>
          refuse(res, 503, `alerts not accepted: ${err instanceof Error ? err.message : String(err)}`),
      );
    });
  };
}
