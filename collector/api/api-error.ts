/**
 * The API's error answers: an HTTP status and a JSON body `{ error, detail }` — `error` a stable
 * code a program can switch on, `detail` a sentence for people (naming the query parameter at
 * fault, which is also in `parameter`).
 */

/** The error codes, by HTTP status. */
export const ERROR_CODES = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  500: 'internal',
  503: 'unavailable',
} as const;

/** A status the API answers errors with. */
export type ErrorStatus = keyof typeof ERROR_CODES;

/** The JSON body of an error answer. */
export interface ErrorBody {
  readonly error: (typeof ERROR_CODES)[ErrorStatus];
  readonly detail: string;
  /** The query parameter (or subscribe-filter field) at fault, for 400s about one. */
  readonly parameter?: string;
}

/**
 * An error a handler throws to answer with `status`; anything else a handler throws is a 500
 * whose details go to the log, not to the caller.
 *
 * @example throw new ApiError(404, `no alert with id '${id}'`)
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ErrorStatus,
    readonly detail: string,
    readonly extra: { readonly parameter?: string; readonly headers?: Readonly<Record<string, string>> } = {},
    options?: ErrorOptions,
  ) {
    super(detail, options);
  }

  /** The JSON body of this error. */
  body(): ErrorBody {
    return {
      error: ERROR_CODES[this.status],
      detail: this.detail,
      ...(this.extra.parameter !== undefined && { parameter: this.extra.parameter }),
    };
  }
}

/** A 400 about one query parameter, named in the message and in `parameter`. */
export function badParameter(parameter: string, message: string, options?: ErrorOptions): ApiError {
  return new ApiError(400, `parameter '${parameter}': ${message}`, { parameter }, options);
}
