/**
 * The shell the HTTP outputs (webhook, Slack, Falco) share: one {@link HttpDelivery} to their
 * endpoint, a batch encoded to a JSON body by the output, and refusal after `close()`. Each
 * output supplies only its type, its batch size and how a batch becomes a body.
 */
import type { Alert } from '../../core/alert.js';
import { sendFailure, type CollectorOutput, type SendOutcome } from './collector-output.js';
import { createHttpDelivery, type HttpEndpoint } from './http-delivery.js';
import type { OutputSettings } from './output-config.js';

/** What an HTTP output is made of. */
export interface HttpJsonOutputSpec {
  readonly type: string;
  readonly maxBatch: number;
  readonly endpoint: HttpEndpoint;
  /** The JSON body for a non-empty batch of at most `maxBatch` alerts. */
  encode(batch: readonly Alert[]): string;
}

/** Creates a bare HTTP JSON output (no retry; see `withRetry`). */
export function createHttpJsonOutput(
  settings: Pick<OutputSettings, 'name' | 'minPriority' | 'queueSize'>,
  spec: HttpJsonOutputSpec,
): CollectorOutput {
  const http = createHttpDelivery(settings.name, spec.endpoint);
  let closed = false;
  return {
    name: settings.name,
    type: spec.type,
    minPriority: settings.minPriority,
    queueSize: settings.queueSize,
    maxBatch: spec.maxBatch,
    send(batch: readonly Alert[], signal?: AbortSignal): Promise<SendOutcome> {
      if (closed) return Promise.resolve(sendFailure(new Error(`output ${settings.name} is closed`)));
      if (batch.length === 0) return Promise.resolve({ result: 'success' });
      return http.send(spec.encode(batch), 'application/json', signal);
    },
    close() {
      closed = true;
      http.close();
      return Promise.resolve();
    },
  };
}

/** The endpoint of an output whose TLS options are optional. */
export function httpEndpoint(
  url: URL,
  method: 'POST' | 'PUT',
  headers: Readonly<Record<string, string>>,
  tls: { readonly timeoutMs: number; readonly ca?: string; readonly rejectUnauthorized?: boolean },
): HttpEndpoint {
  return {
    url,
    method,
    headers,
    timeoutMs: tls.timeoutMs,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
  };
}
