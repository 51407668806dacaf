/**
 * One HTTP request per delivery, classified into a {@link SendOutcome}: the transport shared by
 * the webhook, Slack and Falco outputs.
 *
 * - 2xx: success.
 * - 408, 429 and 5xx: retryable, with the response's `Retry-After` (seconds or an HTTP date).
 * - any other status (3xx included: redirects are not followed): failure — the request itself
 *   is wrong, and sending it again would only be refused again.
 * - no response (refused, reset, DNS, TLS, timeout): retryable.
 *
 * Error messages name the method, scheme and host but never the path or query, which often
 * carry the secret (Slack's webhook URLs do).
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  abortedError,
  sendFailure,
  sendRetryable,
  sendSuccess,
  type SendOutcome,
} from './collector-output.js';

/** Where and how to send. */
export interface HttpEndpoint {
  readonly url: URL;
  readonly method: 'POST' | 'PUT';
  /** Sent with every request, after (and so overriding) the defaults. */
  readonly headers: Readonly<Record<string, string>>;
  /** The whole exchange, connection to last byte of the response. */
  readonly timeoutMs: number;
  /** PEM certificates to trust instead of the system's, for https. */
  readonly ca?: string;
  /** false accepts any server certificate (tests, labs); default true. */
  readonly rejectUnauthorized?: boolean;
}

/** Sends bodies to one endpoint over kept-alive connections. */
export interface HttpDelivery {
  /** Sends one body; never rejects. */
  send(body: string, contentType: string, signal?: AbortSignal): Promise<SendOutcome>;
  /** Closes idle connections. */
  close(): void;
}

/** How much of an error response's body to quote in the error. */
const QUOTED_BYTES = 512;

/**
 * Parses an HTTP `Retry-After` value — delay-seconds or an HTTP-date — into milliseconds from
 * `nowMs`; undefined when absent or unreadable. A date in the past means "now" (0).
 *
 * @example parseRetryAfter('120', 0) === 120_000
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** `POST https://hooks.example.com` — what may appear in logs. */
function describeTarget(endpoint: HttpEndpoint): string {
  return `${endpoint.method} ${endpoint.url.protocol}//${endpoint.url.host}`;
}

/**
 * Creates the transport for `endpoint`. `output` names the output in errors.
 *
 * @example
 * const http = createHttpDelivery('soc', { url, method: 'POST', headers: {}, timeoutMs: 10_000 });
 * const outcome = await http.send(JSON.stringify(alert), 'application/json');
 */
export function createHttpDelivery(
  output: string,
  endpoint: HttpEndpoint,
  now: () => number = Date.now,
): HttpDelivery {
  const https = endpoint.url.protocol === 'https:';
  // One kept-alive connection is enough: the router sends one request at a time per output.
  const agent = https
    ? new HttpsAgent({
        keepAlive: true,
        maxSockets: 1,
        ...(endpoint.ca !== undefined ? { ca: endpoint.ca } : {}),
        rejectUnauthorized: endpoint.rejectUnauthorized ?? true,
      })
    : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const target = describeTarget(endpoint);

  function send(body: string, contentType: string, signal?: AbortSignal): Promise<SendOutcome> {
    if (signal?.aborted === true) return Promise.resolve(sendFailure(abortedError(output, signal)));
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: SendOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const payload = Buffer.from(body, 'utf8');
      let req: ClientRequest;
      try {
        req = (https ? httpsRequest : httpRequest)(endpoint.url, {
          method: endpoint.method,
          agent,
          headers: {
            'content-type': contentType,
            'user-agent': 'vigil-collector',
            ...endpoint.headers,
            'content-length': String(payload.length),
          },
        });
      } catch (err) {
        // A header the configuration got wrong (a newline in a value): no retry will fix it.
        settled = true;
        resolve(
          sendFailure(new Error(`output ${output}: cannot build the request to ${target}`, { cause: err })),
        );
        return;
      }
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${endpoint.timeoutMs} ms`));
      }, endpoint.timeoutMs);
      timer.unref();
      const onAbort = (): void => {
        settle(sendFailure(abortedError(output, signal as AbortSignal)));
        req.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        settle(sendRetryable(new Error(`output ${output}: ${target} failed`, { cause: err })));
      });
      req.on('response', (res) => {
        readQuoted(res, (quoted) => settle(classify(res, quoted)));
      });
      req.end(payload);
    });
  }

  function classify(res: IncomingMessage, quoted: string): SendOutcome {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return sendSuccess();
    const detail = quoted === '' ? '' : `: ${quoted}`;
    const error = new Error(`output ${output}: ${target} answered ${status}${detail}`);
    if (status === 408 || status === 429 || (status >= 500 && status < 600)) {
      return sendRetryable(error, parseRetryAfter(res.headers['retry-after'], now()));
    }
    return sendFailure(error);
  }

  return {
    send,
    close: () => agent.destroy(),
  };
}

/**
 * Reads the response to its end (so that the connection can be reused), keeping only the first
 * {@link QUOTED_BYTES} for an error message.
 */
function readQuoted(res: IncomingMessage, done: (quoted: string) => void): void {
  const chunks: Buffer[] = [];
  let kept = 0;
  res.on('data', (chunk: Buffer) => {
    if (kept < QUOTED_BYTES) {
      chunks.push(chunk.subarray(0, QUOTED_BYTES - kept));
      kept += Math.min(chunk.length, QUOTED_BYTES - kept);
    }
  });
  const finish = (): void => done(Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim());
  res.on('end', finish);
  // A response cut short still told us its status.
  res.on('error', finish);
  res.on('aborted', finish);
}
