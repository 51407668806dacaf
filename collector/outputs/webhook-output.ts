/**
 * The `webhook` output: alerts POSTed as JSON to any HTTP endpoint — one alert per request (the
 * alert object, Falco's keys plus Vigil's), or a batch per request (a JSON array of them).
 *
 * Retries follow {@link createHttpDelivery}: 5xx, 429, 408 and network errors are retried with
 * backoff (a `Retry-After` is honoured), other 4xx are not. In `single` mode a batch is one
 * alert, so a retry never re-sends an alert the receiver already accepted.
 */
import type { CollectorOutput } from './collector-output.js';
import { createHttpJsonOutput, httpEndpoint } from './http-json-output.js';
import {
  defineOutputType,
  httpDefaults,
  httpShape,
  httpTls,
  httpUrl,
  stringMap,
  type OutputSettings,
} from './output-config.js';
import { int, str } from '../../core/config-schema.js';

/** How the webhook output sends. */
export interface WebhookOptions {
  readonly url: URL;
  /** `single`: one alert object per request; `batch`: a JSON array of up to `batchSize` alerts. */
  readonly mode: 'single' | 'batch';
  readonly batchSize: number;
  readonly method: 'POST' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly ca?: string;
  readonly rejectUnauthorized?: boolean;
}

/**
 * Creates a bare webhook output (no retry; see {@link withRetry}).
 *
 * @example
 * createWebhookOutput({ name: 'soc', minPriority: Priority.Warning, queueSize: 10_000 },
 *   { url: new URL('https://soc.example/hook'), mode: 'batch', batchSize: 100, method: 'POST', headers: {}, timeoutMs: 10_000 });
 */
export function createWebhookOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  options: WebhookOptions,
): CollectorOutput {
  return createHttpJsonOutput(settings, {
    type: 'webhook',
    maxBatch: options.mode === 'single' ? 1 : options.batchSize,
    endpoint: httpEndpoint(options.url, options.method, options.headers, options),
    encode: (batch) => (options.mode === 'single' ? JSON.stringify(batch[0]) : JSON.stringify(batch)),
  });
}

/** Registry entry: `type: webhook`. */
export const webhookOutputType = defineOutputType({
  type: 'webhook',
  description: 'alerts as JSON to an HTTP endpoint, one per request or batched in a JSON array',
  example: {
    type: 'webhook',
    name: 'soc',
    url: 'https://soc.example.com/vigil',
    mode: 'batch',
    batch_size: 100,
    headers: { Authorization: 'Bearer <token>' },
    min_priority: 'warning',
  },
  shape: {
    url: httpUrl(),
    mode: str({ oneOf: ['single', 'batch'] }),
    batch_size: int(1, 10_000),
    method: str({ oneOf: ['POST', 'PUT'] }),
    headers: stringMap(),
    ...httpShape,
  },
  defaults: { mode: 'single', batch_size: 100, method: 'POST', headers: {}, ...httpDefaults },
  create(settings, o) {
    return createWebhookOutput(settings, {
      url: o.url,
      mode: o.mode as 'single' | 'batch',
      batchSize: o.batch_size,
      method: o.method as 'POST' | 'PUT',
      headers: o.headers,
      timeoutMs: o.timeout,
      ...httpTls(settings, o),
    });
  },
});
