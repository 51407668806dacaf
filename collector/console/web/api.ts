/**
 * The collector's HTTP API as the console calls it: every request carries the token as
 * `Authorization: Bearer`, answers are JSON, and an error answer becomes an {@link ApiFailure}
 * with the server's sentence, which the console shows as it is.
 */

/** An error answer (or no answer at all: status 0). */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Query parameters; empty and undefined values are left out. */
export type Params = Readonly<Record<string, string | number | undefined>>;

/** A client of the collector's API for one token. */
export class Api {
  /** Called when the server says the token is no longer good (401): the console signs out. */
  onUnauthorized: (detail: string) => void = () => undefined;

  constructor(readonly token: string) {}

  /** `GET path?params` */
  get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') search.set(k, String(v));
    const qs = search.toString();
    return this.request<T>('GET', qs === '' ? path : `${path}?${qs}`, undefined, signal);
  }

  /** `POST path` with a JSON body. */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(signal !== undefined && { signal }),
        cache: 'no-store',
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new ApiFailure(0, 'unreachable', `the collector did not answer (${(err as Error).message})`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed ?? {}) as { error?: string; detail?: string };
      const failure = new ApiFailure(
        res.status,
        e.error ?? `http_${res.status}`,
        e.detail ?? `${method} ${path.split('?')[0]} answered ${res.status}`,
      );
      if (res.status === 401) this.onUnauthorized(failure.detail);
      throw failure;
    }
    return parsed as T;
  }
}

/** A sentence for any error the console caught. */
export function describeError(err: unknown): string {
  if (err instanceof ApiFailure) return err.status === 404 ? `Not found: ${err.detail}` : err.detail;
  return err instanceof Error ? err.message : String(err);
}
