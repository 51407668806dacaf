/**
 * A small client of the collector's HTTP API for `vigil` commands that act on a running
 * collector (`vigil quarantine`, `vigil release`, `vigil quarantines`, `vigil audit`).
 *
 * The collector is `--collector URL`, else `$VIGIL_COLLECTOR`, else http://127.0.0.1:8080; the
 * token is `--token`, else `$VIGIL_TOKEN`. Errors are turned into sentences that say what to do
 * (a 401 means the token is missing or not valid; a 403 that its role is too weak).
 */

/** The collector's address when nothing else is given. */
export const DEFAULT_COLLECTOR_URL = 'http://127.0.0.1:8080';

/** Where the collector is and who calls it. */
export interface CollectorTarget {
  /** Base URL without a trailing slash. */
  readonly url: string;
  readonly token: string | undefined;
}

/** The help text lines for the shared options. */
export const COLLECTOR_OPTIONS_HELP = `  --collector URL      the collector's API (default: $VIGIL_COLLECTOR or ${DEFAULT_COLLECTOR_URL})
  --token TOKEN        an API token (default: $VIGIL_TOKEN); create one with
                       'vigil tokens create --name NAME --role responder'`;

/** Resolves the target from flags and the environment. Throws when the URL is not http(s). */
export function collectorTarget(
  flags: { readonly collector?: string | undefined; readonly token?: string | undefined },
  env: Readonly<Record<string, string | undefined>> = process.env,
): CollectorTarget {
  const raw = flags.collector ?? env['VIGIL_COLLECTOR'] ?? DEFAULT_COLLECTOR_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--collector '${raw}' is not a URL (expected e.g. ${DEFAULT_COLLECTOR_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`--collector '${raw}': expected an http:// or https:// URL`);
  }
  const token = flags.token ?? env['VIGIL_TOKEN'];
  return { url: url.href.replace(/\/+$/, ''), token: token === '' ? undefined : token };
}

/** An answer the collector refused; the message says why and what to do. */
export class CollectorApiError extends Error {
  override readonly name = 'CollectorApiError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function explain(status: number, detail: string, target: CollectorTarget, what: string): string {
  switch (status) {
    case 401:
      return target.token === undefined
        ? `the collector wants a token to ${what}: pass --token or set VIGIL_TOKEN (${detail})`
        : `the collector refused the token (${detail}): it is unknown, revoked or expired; check --token / VIGIL_TOKEN`;
    case 403:
      return `not allowed to ${what}: ${detail}. Quarantine and release need a responder or admin token`;
    default:
      return `${what}: the collector answered ${status}: ${detail}`;
  }
}

/**
 * Calls the API and returns the parsed JSON answer of a 2xx. Throws {@link CollectorApiError}
 * for an error answer, and an Error naming the URL when the collector cannot be reached.
 *
 * @example await callCollector(target, 'GET', '/api/v1/quarantines?state=open', undefined, 'list quarantines')
 */
export async function callCollector<T>(
  target: CollectorTarget,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  what: string,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: globalThis.Response;
  try {
    res = await fetch(target.url + path, {
      method,
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(
      `cannot reach the collector at ${target.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); ` +
        'set --collector or VIGIL_COLLECTOR',
      { cause: err },
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new CollectorApiError(
      `${what}: the answer from ${target.url} is not JSON (status ${res.status}); is it a Vigil collector?`,
      res.status,
    );
  }
  if (!res.ok) {
    const detail =
      typeof (parsed as { detail?: unknown }).detail === 'string'
        ? (parsed as { detail: string }).detail
        : res.statusText;
    throw new CollectorApiError(explain(res.status, detail, target, what), res.status);
  }
  return { status: res.status, body: parsed as T };
}

/** `2024-05-01T12:00:00Z` for ms since the epoch ('-' for null). */
export function isoSeconds(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Lays out rows as aligned columns (the first row is the header). */
export function columns(rows: readonly (readonly string[])[]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
